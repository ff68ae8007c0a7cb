"""The web monitor behind ``skyrun ui``: a small JSON API over the SDK (``api``, with the
charts' aggregates in ``charts``), served with static pages and the vendored chart
library by the standard library's HTTP server (``server``) on 127.0.0.1 only, behind a
login token.

The server stays on ``http.server`` rather than an ASGI stack: the token is one check
before routing and the chart endpoints are two more routes, so nothing grew enough to
pay for new runtime dependencies of the SDK; pages poll (every 2 s while jobs are live)
instead of receiving server-sent events."""

from skyrun.ui.server import UIServer, serve

__all__ = ["UIServer", "serve"]
