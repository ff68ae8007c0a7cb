"""``skyrun jobs ...``: list, show, cancel, rerun and delete."""

from __future__ import annotations

from skyrun.cli.output import emit_json, fields, fmt_value, note, shorten, table
from skyrun.domain.statuses import JOB_STATUSES

_STATUSES = JOB_STATUSES


def _row(job) -> list:
    return [job.id, str(job.status), job.execution_count, job.exit_code,
            None if job.runtime is None else f"{job.runtime}s", job.creation_date,
            shorten(fmt_value(job.args), 30), shorten(",".join(job.tags), 20),
            shorten(job.error_reason or "", 40)]


_HEADERS = ["ID", "STATUS", "ATTEMPTS", "EXIT", "RUNTIME", "CREATED", "ARGS", "TAGS", "ERROR"]
_RIGHT = {"ATTEMPTS", "EXIT", "RUNTIME"}


def jobs_table(jobs) -> str:
    """Jobs as an aligned table, one row each."""
    return table(_HEADERS, [_row(j) for j in jobs], right=_RIGHT)


def cmd_list(args) -> int:
    """A Function's jobs, newest first."""
    from skyrun.compute import Function, Job

    fn = Function.get(args.function_id, client=args.client)
    search = fn.jobs
    if args.status:
        search = search.filter(Job.status.in_(args.status))
    for tag in args.tag or ():
        search = search.filter(Job.tags == tag)
    search = search.sort(-Job.creation_date)
    if args.limit is not None:
        search = search.limit(args.limit)
    found = list(search)
    if args.json:
        emit_json([job.to_dict() for job in found])
        return 0
    if not found:
        print("No matching jobs.")
        return 0
    print(jobs_table(found))
    if args.limit is not None and len(found) == args.limit:
        total = search.count()
        if total > len(found):
            note(f"(the {len(found)} newest of {total} matching jobs)")
    return 0


def _statistics_text(job) -> str:
    stats = job.statistics
    if stats is None:
        return "-"
    cpu_s = stats.cpu.time / 1e9
    peak_mb = stats.memory.peak_bytes / 2**20
    return (f"cpu {cpu_s:.2f} s ({stats.cpu.total:.0f}% of the cpus), "
            f"peak memory {peak_mb:.1f} MB ({stats.memory.peak_percentage:.0f}%)")


def show(job) -> str:
    """A Job as a ``key  value`` block."""
    return fields([
        ("id", job.id), ("function_id", job.function_id), ("status", str(job.status)),
        ("attempts", job.execution_count), ("exit_code", job.exit_code),
        ("error_reason", job.error_reason), ("args", fmt_value(job.args)),
        ("kwargs", fmt_value(job.kwargs)), ("environment", fmt_value(job.environment)),
        ("tags", ", ".join(job.tags) or "-"), ("created", job.creation_date),
        ("last_execution", job.last_execution_date),
        ("last_completion", job.last_completion_date),
        ("runtime", None if job.runtime is None else f"{job.runtime} s"),
        ("provisioning_time", None if job.provisioning_time is None
         else f"{job.provisioning_time} s"),
        ("pull_time", None if job.pull_time is None else f"{job.pull_time} s"),
        ("statistics", _statistics_text(job)),
    ])


def cmd_show(args) -> int:
    """One job in detail."""
    from skyrun.compute import Job

    job = Job.get(args.job_id, client=args.client)
    if args.json:
        emit_json(job.to_dict())
    else:
        print(show(job))
    return 0


def _targets(args):
    """The JobSearch the bulk commands act on: the given ids (all of which must exist in
    the caller's namespace), or a Function's jobs narrowed by ``--status``."""
    from skyrun.compute import Function, Job
    from skyrun.exceptions import NotFoundError

    if args.job_ids and args.function:
        args.parser.error("give JOB_IDs or --function, not both")
    if not args.job_ids and not args.function:
        args.parser.error("give at least one JOB_ID, or --function FUNCTION_ID")
    if args.status and not args.function:
        args.parser.error("--status narrows --function; it cannot be used with JOB_IDs")
    if args.function:
        search = Function.get(args.function, client=args.client).jobs
        if args.status:
            search = search.filter(Job.status.in_(args.status))
        return search, []
    ids = list(dict.fromkeys(args.job_ids))
    search = Job.search(client=args.client).filter(Job.id.in_(ids))
    found = {job.id: job for job in search}
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotFoundError(f"Job{'s' if len(missing) > 1 else ''} not found: "
                            f"{', '.join(missing)}")
    return search, [found[i] for i in ids]


def _unchanged(requested, changed_ids, what: str) -> None:
    for job in requested:
        if job.id not in changed_ids:
            note(f"Job {job.id} is {job.status}: not {what}.")


def cmd_cancel(args) -> int:
    """``JobSearch.cancel()``: pending jobs end ``canceled`` at once, active ones are
    killed by their worker; terminal jobs are left as they are."""
    search, requested = _targets(args)
    changed = search.cancel()
    if args.json:
        emit_json([job.to_dict() for job in changed])
        return 0
    _unchanged(requested, {j.id for j in changed}, "canceled")
    print(f"Canceled {len(changed)} job{'' if len(changed) == 1 else 's'}.")
    if changed:
        print(jobs_table(changed))
    return 0


def cmd_rerun(args) -> int:
    """``JobSearch.rerun()``: ``failure``, ``timeout`` and ``canceled`` jobs go back to
    ``pending``; others are left as they are."""
    search, requested = _targets(args)
    changed = search.rerun()
    if args.json:
        emit_json([job.to_dict() for job in changed])
        return 0
    _unchanged(requested, {j.id for j in changed}, "rerun (only failure, timeout and "
                                                    "canceled jobs are)")
    print(f"Requeued {len(changed)} job{'' if len(changed) == 1 else 's'}.")
    if changed:
        print(jobs_table(changed))
    return 0


def cmd_delete(args) -> int:
    """``JobSearch.delete()``. Named jobs that are active make the command fail before
    anything is deleted; with ``--function``, active jobs are skipped."""
    from skyrun.compute import JobStatus
    from skyrun.exceptions import ConflictError

    search, requested = _targets(args)
    active = [j for j in requested if j.status in JobStatus.active()]
    if active:
        raise ConflictError("cannot delete active jobs; cancel them or wait for them to end: "
                            + ", ".join(f"{j.id} ({j.status})" for j in active))
    deleted = search.delete(delete_results=args.delete_results)
    if args.json:
        emit_json({"deleted": deleted, "delete_results": args.delete_results})
        return 0
    missed = len(requested) - len(deleted) if requested else 0
    if missed > 0:
        # A named job became active between the check and the delete.
        note(f"{missed} job{'' if missed == 1 else 's'} became active and were not deleted.")
    kept = "" if args.delete_results else " (results kept)"
    print(f"Deleted {len(deleted)} job{'' if len(deleted) == 1 else 's'}{kept}.")
    for job_id in deleted:
        print(job_id)
    return 1 if missed > 0 else 0


def register(sub, common) -> None:
    """Add the ``jobs`` group."""
    group = sub.add_parser("jobs", help="list, inspect, cancel, rerun and delete jobs",
                           description="List, inspect, cancel, rerun and delete jobs.")
    commands = group.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)

    p = commands.add_parser("list", parents=[common], help="a Function's jobs, newest first")
    p.add_argument("function_id", metavar="FUNCTION_ID")
    p.add_argument("--status", action="append", choices=_STATUSES, metavar="S",
                   help="only jobs in this status (repeatable: any of them); one of "
                        + ", ".join(_STATUSES))
    p.add_argument("--tag", action="append", metavar="T",
                   help="only jobs with this tag (repeatable: all of them)")
    p.add_argument("--limit", type=_non_negative, metavar="N", help="at most N jobs")
    p.set_defaults(func=cmd_list)

    p = commands.add_parser("show", parents=[common], help="one job in detail")
    p.add_argument("job_id", metavar="JOB_ID")
    p.set_defaults(func=cmd_show)

    for name, func, text in (
            ("cancel", cmd_cancel, "cancel pending and active jobs"),
            ("rerun", cmd_rerun, "requeue failure, timeout and canceled jobs"),
            ("delete", cmd_delete, "delete finished or pending jobs with their logs")):
        p = commands.add_parser(name, parents=[common], help=text,
                                description=f"{text[0].upper()}{text[1:]}: the named jobs, "
                                            "or all matching jobs of a Function.")
        p.add_argument("job_ids", nargs="*", metavar="JOB_ID")
        p.add_argument("--function", metavar="FUNCTION_ID",
                       help="act on this Function's jobs instead of named ones")
        p.add_argument("--status", action="append", choices=_STATUSES, metavar="S",
                       help="with --function: only jobs in this status (repeatable); one of "
                            + ", ".join(_STATUSES))
        if name == "delete":
            p.add_argument("--delete-results", action="store_true",
                           help="delete the job results too (kept by default)")
        p.set_defaults(func=func, parser=p)


def _non_negative(text: str) -> int:
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value
