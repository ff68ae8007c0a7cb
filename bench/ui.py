"""The monitor's Function page at 100,000 jobs (embedded backend), in chromium.

Inserts the jobs of one Function straight through the store (finished with realistic
timings, statistics and a few error reasons; 2 % still running), starts the monitor, and
measures

- the two chart endpoints on the server (``/summary``: the store's aggregate queries;
  ``/timeline``: every job's bar), each the median of ``--repeat`` calls;
- the baseline in the same run: the same summary computed in Python from every job
  record read through the SDK (what the page would cost without store aggregates);
- in Debian's chromium (Playwright): from opening the page to every chart drawn, and
  the charts' own times from their refresh's start (until their last answer was in;
  drawing, both answers together: each chart is drawn as its answer arrives), the
  median of ``--repeat`` page loads.

With ``--against REV`` (a git revision of this repository, such as ``HEAD~2``) the
monitor of that revision serves the same jobs too, and every figure is measured for both,
alternately, in the same run (the baseline for the page: same data, same load). Each
monitor runs in its own process, as ``skyrun ui`` does. The load average is printed
before and after.

    python bench/ui.py [--jobs 100000] [--repeat 5] [--against REV]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from types import SimpleNamespace

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: Serves the monitor of the code on PYTHONPATH for SKYRUN_HOME until stdin closes.
SERVE = """
import json, sys
from skyrun.auth import Auth
from skyrun.compute import ComputeClient
from skyrun.ui.server import UIServer
server = UIServer(ComputeClient(auth=Auth(org="bench", user="ui")), port=0).start()
print(json.dumps({"url": server.url, "cookie_name": server.cookie_name,
                  "token": server.token}), flush=True)
sys.stdin.read()
server.stop()
"""


def start_monitor(paths: list[str]):
    """A monitor process of the code under ``paths``; returns (process, its address)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths))
    proc = subprocess.Popen([sys.executable, "-c", SERVE], env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line:
        proc.wait()
        raise RuntimeError(f"the monitor under {paths} did not start")
    return proc, SimpleNamespace(**json.loads(line))


def insert_jobs(store, function: dict, n: int, rng: random.Random) -> None:
    from skyrun.compute.operations import new_job_record

    t0 = time.time() - 3600
    reasons = ["ValueError: bad input\n  at line 3", "MemoryError", "KeyError: 'x'"]
    concurrency = function["maximum_concurrency"]
    lane_free = [t0] * concurrency  # each worker runs its jobs back to back
    batch = 1000
    for b in range(0, n, batch):
        reference_id = uuid.uuid4().hex
        records = []
        for i in range(min(batch, n - b)):
            lane = (b + i) % concurrency
            start = lane_free[lane] + rng.random() * 0.05
            runtime = rng.lognormvariate(0, 0.6)
            end = start + runtime
            lane_free[lane] = end
            record = new_job_record(f"{reference_id}-{i:04d}", function, reference_id,
                                    t0, [b + i], None, None, None)
            roll = rng.random()
            status = ("running" if b + i >= n * 0.98 else "success" if roll < 0.95
                      else "timeout" if roll < 0.96 else "failure")
            peak = int(rng.uniform(0.05, 0.9) * function["memory"] * 1048576)
            record.update(
                status=status, execution_count=1, last_execution_date=start,
                last_completion_date=None if status == "running" else end,
                runtime=None if status == "running" else int(round(runtime)),
                exit_code=None if status == "running" else int(status != "success"),
                error_reason=rng.choice(reasons) if status == "failure" else
                ("timed out after 10 s" if status == "timeout" else None),
                statistics=None if status == "running" else {
                    "cpu": {"time": int(runtime * rng.uniform(0.2, 1.0) * 1e9),
                            "total": rng.uniform(20, 100), "timeseries": []},
                    "memory": {"peak_bytes": peak,
                               "peak_percentage": 100.0 * peak / (function["memory"] * 1048576),
                               "total_bytes": peak // 2, "total_percentage": 1.0,
                               "timeseries": []},
                    "network": {}})
            records.append(record)
        store.insert_jobs(reference_id, records)


def median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--against", metavar="REV",
                        help="also measure the monitor of this git revision, alternately")
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="skyrun-bench-ui-")
    os.environ["SKYRUN_HOME"] = home
    os.environ["SKYRUN_BACKEND"] = "local"
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _common import export_revision, machine

    from skyrun.auth import Auth
    from skyrun.backends import summary as summary_module
    from skyrun.compute import ComputeClient, Function

    client = ComputeClient(auth=Auth(org="bench", user="ui"))
    ComputeClient.set_default_client(client)
    store = client.backend.store
    fn = Function("json.dumps", name="bench-ui", auto_start=False, maximum_concurrency=200)
    fn.save()
    start = time.perf_counter()
    insert_jobs(store, store.get_function(fn.id), args.jobs, random.Random(42))
    print(f"machine: {machine()}, SQLite {sqlite3.sqlite_version}")
    print(f"inserted {args.jobs:,} jobs in {time.perf_counter() - start:.1f} s")

    here = [os.path.join(ROOT, d) for d in ("sdk", "runtime")]
    monitors = {"this tree": here}
    if args.against:
        old = export_revision(args.against)
        monitors = {args.against: [os.path.join(old, "sdk"), os.path.join(old, "runtime")],
                    **monitors}
    load_before = os.getloadavg()
    started = {name: start_monitor(paths) for name, paths in monitors.items()}
    results = {name: {"summary": [], "timeline": [], "table": [], "page": [], "fetch": [],
                      "draw": []} for name in monitors}
    timeline_bytes, bars = 0, 0
    try:
        def get(server, path: str) -> bytes:
            request = urllib.request.Request(
                server.url.rstrip("/") + path,
                headers={"Cookie": f"{server.cookie_name}={server.token}"})
            with urllib.request.urlopen(request, timeout=120) as response:
                return response.read()

        def timed(server, path: str) -> float:
            start = time.perf_counter()
            get(server, path)
            return (time.perf_counter() - start) * 1000

        for _, server in started.values():  # warm up: connections, page cache
            timeline_bytes = len(get(server, f"/api/functions/{fn.id}/timeline"))
        # Alternately, so that both see the same load.
        base = f"/api/functions/{fn.id}"
        for _ in range(args.repeat):
            for name, (_, server) in started.items():
                r = results[name]
                r["summary"].append(timed(server, f"{base}/summary"))
                r["timeline"].append(timed(server, f"{base}/timeline"))
                r["table"].append(timed(server, f"{base}/jobs?limit=50"))

        def python_summary():
            rows = []
            for job in fn.jobs:
                record = job._record
                rows.append((record["status"], record["last_execution_date"],
                             record["last_completion_date"], record["error_reason"],
                             *summary_module.statistics_values(record["statistics"])))
            return summary_module.summarize(rows, time.time())

        baseline_ms = median_ms(python_summary, max(1, args.repeat // 2))
        bars = browser_load({name: server for name, (_, server) in started.items()}, fn.id,
                            args.repeat, results)
    finally:
        for proc, _ in started.values():
            proc.stdin.close()
            proc.wait(timeout=60)
        # The jobs (about 60 MB at 100,000) and the exported revision are not kept.
        shutil.rmtree(home, ignore_errors=True)
        if args.against:
            shutil.rmtree(os.path.dirname(monitors[args.against][0]), ignore_errors=True)
    load_after = os.getloadavg()
    med = {name: {k: statistics.median(v) for k, v in r.items()} for name, r in results.items()}
    mine = med["this tree"]
    print(f"load average before: {load_before[0]:.1f}, after: {load_after[0]:.1f} "
          f"on {os.cpu_count()} cores")
    print(f"baseline: every record via the SDK:  {baseline_ms:8.0f} ms; /summary is "
          f"{baseline_ms / mine['summary']:.1f}x faster")
    print(f"/timeline JSON: {timeline_bytes / 1e6:.1f} MB; {bars:,} timeline bars drawn")
    print("medians, ms                          " + "".join(f"{n:>14}" for n in med))
    for key, label in (("summary", "/summary (store aggregates)"), ("timeline", "/timeline"),
                       ("table", "/jobs (job table's first page)"),
                       ("fetch", "chromium: charts' last answer in"),
                       ("draw", "chromium: drawing the charts"),
                       ("page", "chromium: page opened to drawn")):
        print(f"{label:37s}" + "".join(f"{med[n][key]:14.0f}" for n in med))
    if args.against:
        print(f"page opened to charts drawn: {mine['page']:.0f} ms against "
              f"{med[args.against]['page']:.0f} ms at {args.against}; ratio "
              f"{med[args.against]['page'] / mine['page']:.2f}x (target < 2000 ms)")
    print(json.dumps({"jobs": args.jobs, "baseline_ms": round(baseline_ms),
                      "load_before": round(load_before[0], 1),
                      "load_after": round(load_after[0], 1),
                      **{n: {k: round(v) for k, v in m.items()} for n, m in med.items()}}))
    return 0


def browser_load(servers: dict, function_id: str, repeat: int, results: dict) -> int:
    """Open the Function page ``repeat`` times on each server, alternately; appends the
    page, fetch and draw times to ``results``; returns the number of timeline bars."""
    from playwright.sync_api import sync_playwright

    bars = 0
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                    args=["--no-sandbox", "--disable-gpu",
                                          "--disable-background-networking"])
        try:
            for _ in range(repeat):
                for name, server in servers.items():
                    context = browser.new_context(viewport={"width": 1366, "height": 900})
                    context.add_cookies([{"name": server.cookie_name, "value": server.token,
                                          "url": server.url}])
                    page = context.new_page()
                    start = time.perf_counter()
                    page.goto(f"{server.url}functions/{function_id}")
                    page.wait_for_selector("#charts[data-rendered='1']", timeout=120_000)
                    results[name]["page"].append((time.perf_counter() - start) * 1000)
                    fetch, draw = page.evaluate("() => [skyrunCharts.fetchMs, skyrunCharts.drawMs]")
                    results[name]["fetch"].append(fetch)
                    results[name]["draw"].append(draw)
                    bars = int(page.get_attribute("#chart-timeline", "data-bars"))
                    context.close()
        finally:
            browser.close()
    return bars


if __name__ == "__main__":
    sys.exit(main())
