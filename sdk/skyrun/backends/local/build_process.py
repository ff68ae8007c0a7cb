"""The detached build of one Function's environment.

Run as ``python -m skyrun.backends.local.build_process --home PATH --function ID``; started
by ``LocalBuilder.start`` so that the build goes on after the submitting program exits.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m skyrun.backends.local.build_process")
    parser.add_argument("--home", required=True, help="SKYRUN_HOME of the local backend")
    parser.add_argument("--function", required=True, help="the Function to build")
    args = parser.parse_args(argv)
    os.environ["SKYRUN_HOME"] = args.home
    from skyrun.backends.local.backend import LocalBackend
    from skyrun.backends.local.builder import run_build

    backend = LocalBackend(Path(args.home))
    function = backend.store.get_function(args.function)
    if function is None:
        print(f"Function {args.function} does not exist", file=sys.stderr)
        return 1
    run_build(backend, function)
    backend.builder.pid_path(args.function).unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
