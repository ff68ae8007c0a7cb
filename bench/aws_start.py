"""A job's cold start on the AWS backend, on the offline sandbox: from submit to result
with no worker alive (a Batch Function), and the parts of it a worker's start takes.

    python bench/aws_start.py [--rounds 8] [--repeat 2] [--against REV]

Each round waits until the Function's last worker has left (they leave after 1 s idle),
submits one job and polls its record every 10 ms until it ends. The job reports when its
worker process and its executor process started (from ``/proc``, to about 10 ms), and its
record when it was claimed, so each round splits into: submit → worker process started
(the launch and the Batch stand-in), worker started → first claim (the worker's own
start), and claim → result. On the sandbox a "task" is a local process, so the figures
are the worker's share of a Fargate start, not the minute Fargate takes to place a task.

With ``--against REV`` (a git revision, such as ``HEAD~3``) the same measurement runs
with that revision's code too, whole runs alternating ``--repeat`` times, each in a
process of its own with a sandbox of its own; the table shows the medians of each code
and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import export_revision, machine  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("submit_to_result", "submit_to_worker", "worker_to_claim", "worker_to_executor",
         "claim_to_result")


def started(_round: int = 0) -> list[float]:
    """When this process (the job's executor) and its parent (the worker) started, as
    wall-clock times."""
    import os
    import time

    def start_of(pid: int) -> float:
        with open(f"/proc/{pid}/stat") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return time.time() - (uptime - ticks / os.sysconf("SC_CLK_TCK"))

    return [start_of(os.getppid()), start_of(os.getpid())]


def measure(rounds: int) -> list[dict[str, float]]:
    """Run ``rounds`` cold starts on a sandbox of this process's code."""
    from skyrun.sandbox import Sandbox

    home = tempfile.mkdtemp(prefix="skyrun-bench-start-")
    os.environ["SKYRUN_HOME"] = home
    try:
        with Sandbox(environment={"SKYRUN_WORKER_IDLE_SECONDS": "1"}) as sandbox:
            os.environ.update(sandbox.environment)
            os.environ.update(SKYRUN_ORG="bench", SKYRUN_USER="start")
            from skyrun.compute import ComputeClient, Function

            ComputeClient.set_default_client(None)
            # timeout 3,600 s: a Batch Function, whose workers are processes here.
            fn = Function(started, name="cold-start", timeout=3600, cpus=0.25, memory=512,
                          maximum_concurrency=1)
            fn.save()
            store = fn._client.backend.store
            launcher = fn._client.backend.launcher
            results = []
            for i in range(rounds + 1):  # the first round builds nothing but warms moto
                deadline = time.monotonic() + 60
                while launcher.live_workers(fn.id) and time.monotonic() < deadline:
                    time.sleep(0.05)
                time.sleep(0.5)  # the worker's process exits after its unregistration
                submitted = time.time()
                job = fn(i)
                while True:
                    record = store.get_job(job.id)
                    if record["status"] in ("success", "failure"):
                        break
                    time.sleep(0.01)
                ended = time.time()
                job.refresh()
                if job.status != "success":
                    raise RuntimeError(f"the job failed: {job.error_reason}\n{job.log()}")
                worker, executor = job.result()
                claimed = record["last_execution_date"]
                if i == 0:
                    continue
                results.append({
                    "submit_to_result": ended - submitted,
                    "submit_to_worker": worker - submitted,
                    "worker_to_claim": claimed - worker,
                    "worker_to_executor": executor - worker,
                    "claim_to_result": ended - claimed,
                })
            return results
    finally:
        shutil.rmtree(home, ignore_errors=True)


def medians(rows: list[dict[str, float]]) -> dict[str, float]:
    return {part: statistics.median(r[part] for r in rows) for part in PARTS}


def run_child(paths: list[str], rounds: int) -> list[dict[str, float]]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths))
    done = subprocess.run([sys.executable, __file__, "--child", "--rounds", str(rounds)],
                          env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"the run with {paths} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=8, help="cold starts per run")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each code")
    parser.add_argument("--against", metavar="REV", help="a git revision to compare with")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.rounds)))
        return
    print(f"machine: {machine()}")
    trees = {"this tree": [str(ROOT / "sdk"), str(ROOT / "runtime")]}
    old = None
    if args.against:
        old = export_revision(args.against)
        trees[args.against] = [os.path.join(old, "sdk"), os.path.join(old, "runtime")]
    rows: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    try:
        for r in range(args.repeat):
            order = list(trees) if r % 2 == 0 else list(trees)[::-1]
            for name in order:
                rows[name] += run_child(trees[name], args.rounds)
                print(f"run {r + 1} of {name}: {len(rows[name])} cold starts so far",
                      flush=True)
    finally:
        if old:
            shutil.rmtree(old, ignore_errors=True)
    found = {name: medians(values) for name, values in rows.items()}
    names = list(trees)
    print(f"\nmedians in ms over {len(rows[names[0]])} cold starts each")
    print("| part | " + " | ".join(names) + (" | ratio |" if len(names) == 2 else " |"))
    print("|---" * (len(names) + 1 + (len(names) == 2)) + "|")
    for part in PARTS:
        cells = [f"{found[n][part] * 1000:.0f}" for n in names]
        ratio = (f" | {found[names[0]][part] / found[names[1]][part]:.2f}"
                 if len(names) == 2 and found[names[1]][part] > 0 else "")
        print(f"| {part.replace('_', ' ')} | " + " | ".join(cells) + ratio + " |")


if __name__ == "__main__":
    main()
