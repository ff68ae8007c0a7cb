"""The ``skyrun`` command line."""

from __future__ import annotations

import argparse
import json
import os
import sys


def _demo_square(x):
    """The demo's job: square a number, and say so in the job log."""
    print(f"squaring {x}")
    return x * x


def cmd_demo(args) -> int:
    """Run a small Function end to end and print its results."""
    from skyrun.compute import Function, JobStatus

    fn = Function(_demo_square, name="skyrun-demo", maximum_concurrency=4, retry_count=1)
    fn.save()
    print(f"Function {fn.name} ({fn.id}) is {fn.status} on the {fn._client.backend_name} "
          f"backend; submitting 20 jobs")
    jobs = fn.map(range(20))
    done = list(fn.as_completed(jobs, timeout=args.timeout, interval=0.1))
    ok = [j for j in done if j.status == JobStatus.SUCCESS]
    results = sorted(j.result() for j in ok)
    print(f"{len(ok)} of {len(jobs)} jobs succeeded; results: {results}")
    first = min(ok, key=lambda j: j.args[0]) if ok else None
    if first is not None:
        print(f"log of job {first.id}: {first.log(timestamps=False)!r}")
    return 0 if len(ok) == len(jobs) else 1


def cmd_info(args) -> int:
    """Show the backend, identity and where state lives."""
    from skyrun import config
    from skyrun.compute import ComputeClient

    client = ComputeClient.get_default_client()
    info = {"backend": client.backend_name, "org": client.auth.payload["org"],
            "namespace": client.namespace}
    if client.backend_name == "local":
        info["home"] = str(config.home())
    if args.json:
        print(json.dumps(info))
    else:
        for key, value in info.items():
            print(f"{key:10} {value}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``skyrun`` command."""
    parser = argparse.ArgumentParser(prog="skyrun", description="skyrun batch compute")
    parser.add_argument("--backend", choices=["local", "aws"], help="override SKYRUN_BACKEND")
    parser.add_argument("--home", help="override SKYRUN_HOME (local backend)")
    parser.add_argument("--json", action="store_true", help="JSON output for scripts")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run a small Function end to end")
    demo.add_argument("--timeout", type=float, default=120, help="seconds to wait")
    demo.set_defaults(func=cmd_demo)
    info = sub.add_parser("info", help="backend, org, namespace and where state lives")
    info.set_defaults(func=cmd_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``skyrun`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.backend:
        os.environ["SKYRUN_BACKEND"] = args.backend
    if args.home:
        os.environ["SKYRUN_HOME"] = args.home
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a failed operation: say what, exit 1
        print(f"skyrun: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
