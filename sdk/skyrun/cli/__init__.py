"""The ``skyrun`` command line.

Each command group lives in its own module with a ``register(sub, common)`` function that
adds its sub-commands; ``common`` is the parent parser holding ``--json``, so that the
option is accepted after the sub-command as well as before it.

Exit codes: 0 on success, 1 when the operation failed (including input that the SDK
rejects, such as ``functions set --cpus 3``), 2 on bad usage (an unknown command or
option, a missing argument, a value of the wrong type or outside a fixed list of
choices).
"""

from __future__ import annotations

import argparse
import os
import sys

from skyrun.cli import basic, functions, jobs, logs, sandbox, ui

#: The modules whose ``register`` adds commands, in the order ``--help`` lists them.
COMMAND_MODULES = (basic, functions, jobs, logs, ui, sandbox)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``skyrun`` command."""
    parser = argparse.ArgumentParser(
        prog="skyrun", description="skyrun batch compute: manage Functions and Jobs.",
        epilog="Exit codes: 0 success, 1 the operation failed, 2 bad usage.")
    parser.add_argument("--backend", choices=["local", "aws"], help="override SKYRUN_BACKEND")
    parser.add_argument("--home", metavar="PATH",
                        help="override SKYRUN_HOME (where the local backend keeps its state)")
    parser.add_argument("--json", action="store_true", help="JSON output for scripts")
    # The same option on every sub-command; SUPPRESS keeps a global --json from being reset.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="JSON output for scripts")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMAND_MODULES:
        module.register(sub, common)
    return parser


def _client():
    from skyrun.compute import ComputeClient

    return ComputeClient()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``skyrun`` command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.backend:
        os.environ["SKYRUN_BACKEND"] = args.backend
    if args.home:
        os.environ["SKYRUN_HOME"] = args.home
    try:
        args.client = _client()
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`skyrun results F | head`): stop quietly, as a pipe tool does.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except Exception as exc:  # a failed operation: say what, exit 1
        print(f"skyrun: error: {describe(exc)}", file=sys.stderr)
        return 1


def describe(exc: BaseException) -> str:
    """The message of an error; the type is added when it is not one of skyrun's or a
    ValueError, whose messages already say what went wrong."""
    from skyrun.exceptions import ClientError, ServerError

    text = str(exc) or type(exc).__name__
    if isinstance(exc, (ClientError, ServerError, ValueError, RuntimeError, TimeoutError)):
        return text
    return f"{type(exc).__name__}: {text}"
