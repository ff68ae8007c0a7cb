"""The web monitor behind ``skyrun ui``: a small JSON API over the SDK (``api``, with the
charts' aggregates in ``charts``) and server-sent event streams of live changes
(``events``), served with static pages and the vendored chart library by a Starlette
application on uvicorn (``server``), on 127.0.0.1 only, behind a login token."""

from skyrun.ui.server import UIServer, serve

__all__ = ["UIServer", "serve"]
