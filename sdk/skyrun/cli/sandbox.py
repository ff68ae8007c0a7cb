"""``skyrun sandbox``: an offline sandbox of the AWS backend (not part of this version yet)."""

from __future__ import annotations

import sys


def cmd_sandbox(args) -> int:
    """Say that the sandbox is not available, and fail."""
    print("skyrun: error: `skyrun sandbox` (the offline AWS sandbox) is not available in this "
          "version", file=sys.stderr)
    return 1


def register(sub, common) -> None:
    """Add ``sandbox``."""
    p = sub.add_parser("sandbox", parents=[common],
                       help="an offline sandbox of the AWS backend on a local moto server",
                       description="Run an offline sandbox of the AWS backend on a local moto "
                                   "server and write the variables that point the SDK at it.")
    p.add_argument("--env-file", metavar="PATH", help="where to write the variables")
    p.set_defaults(func=cmd_sandbox)
