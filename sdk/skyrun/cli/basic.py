"""``skyrun demo``, ``skyrun info`` and ``skyrun prune-envs``."""

from __future__ import annotations

import sys

from skyrun.cli.output import emit_json, fields


def _demo_square(x):
    """The demo's job: square a number, and say so in the job log."""
    print(f"squaring {x}")
    return x * x


def cmd_demo(args) -> int:
    """Run a small Function end to end and print its results."""
    from skyrun.compute import Function, JobStatus

    fn = Function(_demo_square, name="skyrun-demo", maximum_concurrency=4, retry_count=1,
                  client=args.client)
    fn.save()
    print(f"Function {fn.name} ({fn.id}) is {fn.status} on the {args.client.backend_name} "
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

    client = args.client
    info = {"backend": client.backend_name, "org": client.auth.payload["org"],
            "namespace": client.namespace}
    if client.backend_name == "local":
        info["home"] = str(config.home())
    if args.json:
        emit_json(info)
    else:
        print(fields(info.items()))
    return 0


def cmd_prune_envs(args) -> int:
    """Delete the local environments no Function uses."""
    client = args.client
    if client.backend_name != "local":
        print("skyrun: error: prune-envs works on the local backend; on AWS the image "
              "repository's lifecycle rule removes unused images", file=sys.stderr)
        return 1
    from skyrun.backends.local import envs

    removed = envs.prune(client.backend)
    if args.json:
        emit_json({"removed": removed})
    else:
        print(f"removed {len(removed)} unused environment(s)"
              + (": " + ", ".join(removed) if removed else ""))
    return 0


def register(sub, common) -> None:
    """Add ``demo``, ``info`` and ``prune-envs``."""
    demo = sub.add_parser("demo", parents=[common], help="run a small Function end to end",
                          description="Run a small Function end to end on the configured "
                                      "backend and print its results.")
    demo.add_argument("--timeout", type=float, default=120, help="seconds to wait (default 120)")
    demo.set_defaults(func=cmd_demo)
    info = sub.add_parser("info", parents=[common],
                          help="backend, org, namespace and where state lives")
    info.set_defaults(func=cmd_info)
    prune = sub.add_parser("prune-envs", parents=[common],
                           help="delete the local environments no Function uses",
                           description="Delete the cached virtual environments under "
                                       "SKYRUN_HOME/envs that no Function uses.")
    prune.set_defaults(func=cmd_prune_envs)
