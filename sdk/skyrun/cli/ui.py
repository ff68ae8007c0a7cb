"""``skyrun ui``: serve the web monitor on 127.0.0.1 and open it in a browser."""

from __future__ import annotations


def cmd_ui(args) -> int:
    """Serve the monitor for the caller's namespace until Ctrl-C."""
    from skyrun.ui.server import DEFAULT_PORT, serve

    serve(args.client, port=DEFAULT_PORT if args.port is None else args.port,
          open_browser=not args.no_browser, token=not args.no_token)
    return 0


def _port(text: str) -> int:
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid port: {text!r}")
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"invalid port: {value} (allowed: 0 to 65535)")
    return value


def register(sub, common) -> None:
    """Add ``ui``."""
    p = sub.add_parser(
        "ui", parents=[common], help="the web monitor on 127.0.0.1",
        description="Serve the web monitor of the caller's Functions and Jobs on "
                    "127.0.0.1 and open it in a browser at its URL, which carries a login "
                    "token made for this start. Ctrl-C stops it.")
    p.add_argument("--port", type=_port, metavar="PORT",
                   help="port to listen on (default 8765; 0 picks a free port)")
    p.add_argument("--no-browser", action="store_true",
                   help="only print the URL; do not open a browser")
    p.add_argument("--no-token", action="store_true",
                   help="no login token: any local user can then act as you (warns)")
    p.set_defaults(func=cmd_ui)
