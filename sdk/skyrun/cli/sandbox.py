"""``skyrun sandbox``: an offline sandbox of the AWS backend on a local moto server."""

from __future__ import annotations

import signal
import sys
import threading


def cmd_sandbox(args) -> int:
    """Run a sandbox until SIGINT or SIGTERM, with its variables in ``--env-file`` (or
    on stdout), then stop everything it started."""
    from skyrun.sandbox import Sandbox
    from skyrun.sandbox.faults import parse

    try:
        parse(args.faults)
    except ValueError as exc:
        print(f"skyrun sandbox: --faults: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGINT, signal.SIGTERM)}
    print(f"skyrun sandbox: starting deployment {args.deployment!r} on moto...",
          file=sys.stderr, flush=True)
    try:
        with Sandbox(args.deployment, home=args.sandbox_home, cdk_out=args.cdk_out,
                     faults=args.faults) as sandbox:
            if args.env_file:
                sandbox.write_env_file(args.env_file)
                where = f"written to {args.env_file}; load them with: set -a; . {args.env_file}"
            else:
                for key, value in sorted(sandbox.environment.items()):
                    print(f"{key}={value}", flush=True)
                where = "printed above"
            endpoint = sandbox._running().endpoint
            print(f"skyrun sandbox: ready at {endpoint}; the variables are "
                  f"{where}. Stop with Ctrl-C.", file=sys.stderr, flush=True)
            if sandbox.faults:
                print(f"skyrun sandbox: injecting faults {sandbox.faults}; see "
                      f"{endpoint}/_skyrun/faults", file=sys.stderr, flush=True)
            stop.wait()
            if sandbox.faults:
                report = sandbox.fault_report()
                print(f"skyrun sandbox: {report['requests']} requests, faults injected: "
                      f"{report['injected']}", file=sys.stderr, flush=True)
            print("skyrun sandbox: stopping...", file=sys.stderr, flush=True)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("skyrun sandbox: stopped.", file=sys.stderr, flush=True)
    return 0


def register(sub, common) -> None:
    """Add ``sandbox``."""
    p = sub.add_parser("sandbox", parents=[common],
                       help="an offline sandbox of the AWS backend on a local moto server",
                       description="Run an offline sandbox of the AWS backend on a local moto "
                                   "server until interrupted, and write the variables that "
                                   "point the SDK at it.")
    p.add_argument("--env-file", metavar="PATH",
                   help="write the variables here (default: print them)")
    p.add_argument("--deployment", default="skyrun", metavar="NAME",
                   help="the deployment name, SKYRUN_STACK (default: skyrun)")
    p.add_argument("--cdk-out", metavar="DIR",
                   help="take the templates from this 'cdk synth' output instead of "
                        "synthesizing the app")
    p.add_argument("--sandbox-home", metavar="DIR",
                   help="keep environments and worker output here (default: a temporary "
                        "directory, removed on exit)")
    p.add_argument("--faults", metavar="SPEC",
                   help="make a share of AWS requests fail as AWS does, e.g. "
                        "throttle=0.05,conflict=0.05,5xx=0.02,lost-response=0.01 (kinds: "
                        "throttle, conflict, 5xx, reset, lost-response; narrow one with "
                        "kind@service or kind@service:Operation; seed=N repeats the draws)")
    p.set_defaults(func=cmd_sandbox)
