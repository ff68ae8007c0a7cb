"""The web monitor behind ``skyrun ui``: a small JSON API over the SDK (``api``), served
with static pages by the standard library's HTTP server (``server``) on 127.0.0.1 only."""

from skyrun.ui.server import UIServer, serve

__all__ = ["UIServer", "serve"]
