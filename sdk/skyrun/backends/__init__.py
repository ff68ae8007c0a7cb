"""Backends: the ports every backend implements, and the adapters behind them."""
