"""``to_response``: an API ``Reply`` as the Starlette response the server and its event
streams send."""

from __future__ import annotations

import json

from starlette.responses import Response

from skyrun.ui.api import Reply


def to_response(reply: Reply) -> Response:
    """The Starlette response of an API ``Reply``."""
    if reply.body is not None:
        data = reply.body
    else:
        data = json.dumps(reply.payload, ensure_ascii=False).encode("utf-8")
    content_type = reply.content_type
    if content_type == "application/json":
        content_type += "; charset=utf-8"
    return Response(data, status_code=reply.status, headers=reply.headers,
                    media_type=content_type)
