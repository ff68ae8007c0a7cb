"""``skyrun logs``, ``skyrun build-log`` and ``skyrun results``."""

from __future__ import annotations

import base64
import json
import sys

from skyrun.cli.output import emit_json

#: How often ``logs --follow`` looks for new lines, in seconds.
FOLLOW_INTERVAL = 0.5

#: The key of the object that stands for a bytes result in ``skyrun results``.
BYTES_KEY = "$base64"


def _print_new(job, printed: int, timestamps: bool, as_json: bool) -> int:
    """Print the log lines after the first ``printed``; returns the new count."""
    for n, line in enumerate(job.iter_log(timestamps=timestamps)):
        if n >= printed:
            print(json.dumps(line) if as_json else line, flush=True)
            printed = n + 1
    return printed


def cmd_logs(args) -> int:
    """A job's log; with ``--follow``, new lines as they arrive until the job ends. With
    ``--json`` each line is printed as a JSON string (JSON Lines)."""
    from skyrun.compute import Job

    job = Job.get(args.job_id, client=args.client)
    timestamps = not args.no_timestamps
    printed = _print_new(job, 0, timestamps, args.json)
    if not args.follow:
        return 0
    while True:
        try:
            # Waiting through the SDK also keeps workers coming for a pending job.
            job.wait_for_completion(timeout=FOLLOW_INTERVAL, interval=FOLLOW_INTERVAL)
            finished = True
        except TimeoutError:
            finished = False
        printed = _print_new(job, printed, timestamps, args.json)
        if finished:
            return 0


def cmd_build_log(args) -> int:
    """A Function's build log (the output so far while it builds)."""
    from skyrun.compute import Function

    fn = Function.get(args.function_id, client=args.client)
    text = fn.build_log()
    if args.json:
        emit_json({"function_id": fn.id, "status": str(fn.status), "build_log": text})
        return 0
    sys.stdout.write(text if not text or text.endswith("\n") else text + "\n")
    return 0


def encode_result(value):
    """A result as JSON-encodable data: bytes become ``{"$base64": "<base64>"}``."""
    if isinstance(value, (bytes, bytearray)):
        return {BYTES_KEY: base64.b64encode(bytes(value)).decode("ascii")}
    return value


def cmd_results(args) -> int:
    """One JSON result per line for every ``success`` job; ``--ids`` pairs each with its
    job id."""
    from skyrun.compute import Function, Job, JobStatus

    fn = Function.get(args.function_id, client=args.client)
    if args.ids:
        for job in fn.jobs.filter(Job.status == JobStatus.SUCCESS):
            line = {"job_id": job.id, "result": encode_result(job.result())}
            print(json.dumps(line, separators=(",", ":")))
        return 0
    for value in fn.iter_results():
        print(json.dumps(encode_result(value), separators=(",", ":")))
    return 0


def register(sub, common) -> None:
    """Add ``logs``, ``build-log`` and ``results``."""
    p = sub.add_parser("logs", parents=[common], help="a job's log",
                       description="Print a job's log: every stdout and stderr line of every "
                                   "attempt.")
    p.add_argument("job_id", metavar="JOB_ID")
    p.add_argument("--follow", "-f", action="store_true",
                   help="keep printing new lines until the job ends")
    p.add_argument("--no-timestamps", action="store_true", help="print the text only")
    p.set_defaults(func=cmd_logs)

    p = sub.add_parser("build-log", parents=[common], help="a Function's build log")
    p.add_argument("function_id", metavar="FUNCTION_ID")
    p.set_defaults(func=cmd_build_log)

    p = sub.add_parser("results", parents=[common],
                       help="the results of a Function's successful jobs, one JSON per line",
                       description="Print the result of every successful job of a Function, "
                                   "one JSON document per line. A bytes result that is not "
                                   f'JSON is printed as {{"{BYTES_KEY}": "<base64 data>"}}.')
    p.add_argument("function_id", metavar="FUNCTION_ID")
    p.add_argument("--ids", action="store_true",
                   help='print {"job_id": ..., "result": ...} objects instead of bare results')
    p.set_defaults(func=cmd_results)
