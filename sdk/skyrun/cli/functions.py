"""``skyrun functions ...``: list, show, start, stop, enable, disable, delete and set."""

from __future__ import annotations

from skyrun.cli.output import counts_text, emit_json, fields, fmt_value, table
from skyrun.domain import targets
from skyrun.domain.statuses import ACTIVE_STATUSES, ENDED_STATUSES, PENDING

#: Job counts shown as table columns: the active statuses are summed into one.
_COUNT_COLUMNS = (("PENDING", (PENDING,)), ("ACTIVE", ACTIVE_STATUSES),
                  *((status.upper(), (status,)) for status in ENDED_STATUSES))

#: ``functions set`` options and the Function attribute each one sets.
_SETTABLE = (("maximum_concurrency", "--maximum-concurrency", int, "N",
              "the most active jobs at once (1-1000)"),
             ("cpus", "--cpus", str, "C", "vCPUs per job, e.g. 0.5 or 2"),
             ("memory", "--memory", str, "M", "memory per job: MB, or with a unit, e.g. 8GB"),
             ("timeout", "--timeout", int, "S", "seconds an attempt may run"),
             ("retry_count", "--retry-count", int, "R", "retries after a failed attempt (0-10)"),
             ("compute_target", "--compute-target", str, "T",
              "where jobs run on AWS: auto, lambda or batch"))


def _get(args, function_id: str):
    from skyrun.compute import Function

    return Function.get(function_id, client=args.client, include=["job.statistics"])


def _summary(fn) -> str:
    return f"Function {fn.name} ({fn.id}) is {fn.status}, {'enabled' if fn.enabled else 'disabled'}"


def cmd_list(args) -> int:
    """The caller's Functions, newest first, with job counts per status."""
    from skyrun.compute import Function

    search = Function.search(client=args.client).param(include=["job.statistics"])
    if args.status:
        search = search.filter(Function.status.in_(args.status))
    found = list(search.sort(-Function.creation_date))
    if args.json:
        emit_json([fn.to_dict() for fn in found])
        return 0
    if not found:
        print("No Functions.")
        return 0
    headers = ["ID", "NAME", "STATUS", "ENABLED", "CPUS", "MEMORY", "CONC", "TARGET", "CREATED",
               *(h for h, _ in _COUNT_COLUMNS)]
    rows = []
    for fn in found:
        stats = fn.job_statistics or {}
        rows.append([fn.id, fn.name, str(fn.status), fn.enabled, fn.cpus, fn.memory,
                     fn.maximum_concurrency, fn.compute_target or targets.DEFAULT_TARGET,
                     fn.creation_date,
                     *(sum(stats.get(s, 0) for s in group) for _, group in _COUNT_COLUMNS)])
    print(table(headers, rows, right={"CPUS", "MEMORY", "CONC",
                                      *(h for h, _ in _COUNT_COLUMNS)}))
    return 0


def usage_lines(usage) -> list[tuple[str, str]]:
    """``Function.usage()`` as ``show`` lines: what the finished jobs used, and on AWS
    the billed size and estimated cost."""
    peak = usage.peak_memory_bytes
    lines = [("usage", f"{usage.jobs} finished jobs, runtime {usage.runtime_seconds:.1f} s, "
                       f"CPU {usage.cpu_seconds:.1f} s, peak memory "
                       + ("—" if peak is None else f"{peak / 1048576:.1f} MB"))]
    if usage.vcpu_seconds is not None:
        lines.append(("vcpu_gb_seconds",
                      f"{usage.vcpu_seconds:.1f} vCPU-s, {usage.gb_seconds:.1f} GB-s"))
    if usage.cost is not None:
        c = usage.cost
        lines.append(("cost", f"${c.usd:.6f} estimated ({c.compute_target}, {c.rates_region} "
                              f"on-demand rates of {c.rates_date})"))
    return lines


def target_text(fn) -> str:
    """``compute_target`` with where it sends the jobs on AWS: ``auto (AWS: lambda)``."""
    record = {"compute_target": fn.compute_target, "timeout": fn.timeout, "cpus": fn.cpus,
              "memory": fn.memory}
    return (f"{fn.compute_target or targets.DEFAULT_TARGET} "
            f"(AWS: {targets.choose(record)})")


def show(fn) -> str:
    """A Function as a ``key  value`` block."""
    return fields([
        ("id", fn.id), ("name", fn.name), ("status", str(fn.status)), ("enabled", fn.enabled),
        ("auto_start", fn.auto_start), ("image", fn.image), ("cpus", fn.cpus),
        ("memory", f"{fn.memory} MB"), ("maximum_concurrency", fn.maximum_concurrency),
        ("timeout", f"{fn.timeout} s"), ("retry_count", fn.retry_count),
        ("compute_target", target_text(fn)),
        ("environment", fmt_value(fn.environment or {})), ("namespace", fn.namespace),
        ("owner", fn.owner), ("created", fn.creation_date), ("modified", fn.modified_date),
        ("jobs", counts_text(fn.job_statistics)),
        *usage_lines(fn.usage()),
    ])


def cmd_show(args) -> int:
    """One Function's settings, status, job counts and usage."""
    fn = _get(args, args.function_id)
    if args.json:
        emit_json({**fn.to_dict(), "usage": fn.usage().to_dict()})
    else:
        print(show(fn))
    return 0


def _report(args, fn, done: str) -> int:
    fn.refresh(includes=["job.statistics"])
    if args.json:
        emit_json(fn.to_dict())
    else:
        print(f"{done}: {_summary(fn)}.")
    return 0


def cmd_start(args) -> int:
    """``fn.start()``: ``stopped`` → ``ready``."""
    fn = _get(args, args.function_id)
    fn.start()
    return _report(args, fn, "Started")


def cmd_stop(args) -> int:
    """``fn.stop()``: ``ready`` → ``stopped``; active jobs continue."""
    fn = _get(args, args.function_id)
    fn.stop()
    return _report(args, fn, "Stopped")


def cmd_enable(args) -> int:
    """``fn.enable()``: accept job submissions and reruns."""
    fn = _get(args, args.function_id)
    fn.enable()
    return _report(args, fn, "Enabled")


def cmd_disable(args) -> int:
    """``fn.disable()``: refuse job submissions and reruns; pending jobs still run."""
    fn = _get(args, args.function_id)
    fn.disable()
    return _report(args, fn, "Disabled")


def cmd_delete(args) -> int:
    """``fn.delete(delete_results)``."""
    fn = _get(args, args.function_id)
    name, fid = fn.name, fn.id
    fn.delete(delete_results=args.delete_results)
    if args.json:
        emit_json({"deleted": fid, "delete_results": args.delete_results})
    else:
        kept = "" if args.delete_results else "; its results were kept"
        print(f"Deleted Function {name} ({fid}) with its jobs and logs{kept}.")
    return 0


def cmd_set(args) -> int:
    """Change settings and ``save()``: validated exactly as the SDK validates them."""
    changes = {attr: getattr(args, attr) for attr, *_ in _SETTABLE
               if getattr(args, attr) is not None}
    if not changes:
        args.parser.error("nothing to set; give at least one of "
                          + ", ".join(opt for _, opt, *_ in _SETTABLE))
    fn = _get(args, args.function_id)
    for attr, value in changes.items():
        setattr(fn, attr, value)
    fn.save()
    fn.refresh(includes=["job.statistics"])
    if args.json:
        emit_json(fn.to_dict())
    else:
        print(show(fn))
    return 0


def register(sub, common) -> None:
    """Add the ``functions`` group."""
    from skyrun.compute import FunctionStatus

    group = sub.add_parser("functions", help="list, inspect and manage Functions",
                           description="List, inspect and manage Functions.")
    commands = group.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)

    p = commands.add_parser("list", parents=[common], help="Functions with job counts")
    statuses = [s.value for s in FunctionStatus]
    p.add_argument("--status", action="append", choices=statuses, metavar="S",
                   help="only Functions in this status (repeatable); one of "
                        + ", ".join(statuses))
    p.set_defaults(func=cmd_list)

    p = commands.add_parser("show", parents=[common], help="one Function in detail")
    p.add_argument("function_id", metavar="FUNCTION_ID")
    p.set_defaults(func=cmd_show)

    for name, func, text in (("start", cmd_start, "dispatch pending jobs (stopped → ready)"),
                             ("stop", cmd_stop, "halt dispatch (ready → stopped)"),
                             ("enable", cmd_enable, "accept job submissions and reruns"),
                             ("disable", cmd_disable, "refuse job submissions and reruns")):
        p = commands.add_parser(name, parents=[common], help=text)
        p.add_argument("function_id", metavar="FUNCTION_ID")
        p.set_defaults(func=func)

    p = commands.add_parser("delete", parents=[common],
                            help="delete a Function with its jobs, logs and build log")
    p.add_argument("function_id", metavar="FUNCTION_ID")
    p.add_argument("--delete-results", action="store_true",
                   help="delete the job results too (kept by default)")
    p.set_defaults(func=cmd_delete)

    p = commands.add_parser("set", parents=[common], help="change run settings",
                            description="Change run settings; they apply to jobs that start "
                                        "afterwards.")
    p.add_argument("function_id", metavar="FUNCTION_ID")
    for attr, option, kind, metavar, text in _SETTABLE:
        p.add_argument(option, dest=attr, type=kind, metavar=metavar, help=text)
    p.set_defaults(func=cmd_set, parser=p)
