"""The domain core: the rules of skyrun that hold whatever the backend.

A leaf package: it imports nothing else from skyrun, so the SDK, the worker and every
adapter can depend on it without cycles.
"""
