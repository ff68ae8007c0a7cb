"""``skyrun ui``: the web monitor (not part of this version yet)."""

from __future__ import annotations

import sys


def cmd_ui(args) -> int:
    """Say that the web monitor is not available, and fail."""
    print("skyrun: error: `skyrun ui` (the web monitor) is not available in this version",
          file=sys.stderr)
    return 1


def register(sub, common) -> None:
    """Add ``ui``."""
    p = sub.add_parser("ui", parents=[common], help="the web monitor on 127.0.0.1",
                       description="Serve the web monitor on 127.0.0.1.")
    p.add_argument("--port", type=int, help="port to listen on")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")
    p.set_defaults(func=cmd_ui)
