"""The monitor's Function page at 100,000 jobs (embedded backend), in chromium.

Inserts the jobs of one Function straight through the store (finished with realistic
timings, statistics and a few error reasons; 2 % still running), starts the monitor, and
measures

- the two chart endpoints on the server (``/summary``: the store's GROUP BY queries;
  ``/timeline``: every job's bar), each the median of ``--repeat`` calls;
- the baseline in the same run: the same summary computed in Python from every job
  record read through the SDK (what the page would cost without store aggregates);
- in Debian's chromium (Playwright): from opening the page to every chart drawn, and
  the charts' own fetch-and-draw time, the median of ``--repeat`` page loads.

    python bench/ui.py [--jobs 100000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
import urllib.request
import uuid


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
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="skyrun-bench-ui-")
    os.environ["SKYRUN_HOME"] = home
    os.environ["SKYRUN_BACKEND"] = "local"
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _common import machine

    from skyrun.auth import Auth
    from skyrun.backends import summary as summary_module
    from skyrun.compute import ComputeClient, Function
    from skyrun.ui.server import UIServer

    client = ComputeClient(auth=Auth(org="bench", user="ui"))
    ComputeClient.set_default_client(client)
    store = client.backend.store
    fn = Function("json.dumps", name="bench-ui", auto_start=False, maximum_concurrency=200)
    fn.save()
    start = time.perf_counter()
    insert_jobs(store, store.get_function(fn.id), args.jobs, random.Random(42))
    print(f"machine: {machine()}")
    print(f"inserted {args.jobs:,} jobs in {time.perf_counter() - start:.1f} s")

    server = UIServer(client, port=0).start()
    headers = {"Cookie": f"{server.cookie_name}={server.token}"}

    def get(path: str) -> bytes:
        request = urllib.request.Request(server.url.rstrip("/") + path, headers=headers)
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.read()

    try:
        summary_ms = median_ms(lambda: get(f"/api/functions/{fn.id}/summary"), args.repeat)
        timeline_bytes = len(get(f"/api/functions/{fn.id}/timeline"))
        timeline_ms = median_ms(lambda: get(f"/api/functions/{fn.id}/timeline"), args.repeat)

        def python_summary():
            rows = []
            for job in fn.jobs:
                record = job._record
                rows.append((record["status"], record["last_execution_date"],
                             record["last_completion_date"], record["error_reason"],
                             *summary_module.statistics_values(record["statistics"])))
            return summary_module.summarize(rows, time.time())

        baseline_ms = median_ms(python_summary, max(1, args.repeat // 2))
        table_ms = median_ms(lambda: get(f"/api/functions/{fn.id}/jobs?limit=50"), args.repeat)
        page_ms, fetch_ms, draw_ms, bars = browser_load(server, fn.id, args.repeat)
    finally:
        server.stop()
    print(f"/summary (store GROUP BY):           {summary_ms:8.0f} ms (median)")
    print(f"baseline: every record via the SDK:  {baseline_ms:8.0f} ms; ratio "
          f"{baseline_ms / summary_ms:.1f}x")
    print(f"/timeline ({timeline_bytes / 1e6:.1f} MB JSON):          {timeline_ms:8.0f} ms (median)")
    print(f"chromium: page opened to charts drawn {page_ms:8.0f} ms (median; target < 2000 ms)")
    print(f"/jobs (the job table's first page):  {table_ms:8.0f} ms (median)")
    print(f"chromium: charts' two requests        {fetch_ms:8.0f} ms (median, side by side)")
    print(f"chromium: charts drawn                {draw_ms:8.0f} ms (median), {bars:,} timeline bars")
    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(json.dumps({"jobs": args.jobs, "summary_ms": round(summary_ms),
                      "baseline_ms": round(baseline_ms), "timeline_ms": round(timeline_ms),
                      "table_ms": round(table_ms), "page_ms": round(page_ms),
                      "fetch_ms": round(fetch_ms), "draw_ms": round(draw_ms)}))
    return 0


def browser_load(server, function_id: str, repeat: int) -> tuple[float, float, int]:
    from playwright.sync_api import sync_playwright

    pages, draws, bars = [], [], 0
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                    args=["--no-sandbox", "--disable-gpu",
                                          "--disable-background-networking"])
        try:
            for _ in range(repeat):
                context = browser.new_context(viewport={"width": 1366, "height": 900})
                context.add_cookies([{"name": server.cookie_name, "value": server.token,
                                      "url": server.url}])
                page = context.new_page()
                start = time.perf_counter()
                page.goto(f"{server.url}functions/{function_id}")
                page.wait_for_selector("#charts[data-rendered='1']", timeout=120_000)
                pages.append((time.perf_counter() - start) * 1000)
                draws.append(page.evaluate("() => [skyrunCharts.fetchMs, skyrunCharts.drawMs]"))
                bars = int(page.get_attribute("#chart-timeline", "data-bars"))
                context.close()
        finally:
            browser.close()
    return (statistics.median(pages), statistics.median(d[0] for d in draws),
            statistics.median(d[1] for d in draws), bars)


if __name__ == "__main__":
    sys.exit(main())
