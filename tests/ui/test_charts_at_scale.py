"""The Function page of a Function with 100,000 jobs, in chromium: every chart is drawn
and agrees with the jobs (how fast is a benchmark figure: bench/ui.py, bench/README.md).

The jobs are written straight into the store with known timings, statuses and measured
numbers: 200 rows of jobs run back to back, every 50th a failure (two first lines), every
100th a timeout, the last of each row still running."""

from __future__ import annotations

import time
import uuid

import pytest
from playwright.sync_api import expect

from skyrun.auth import Auth
from skyrun.compute import ComputeClient, Function, Job
from skyrun.compute.operations import new_job_record
from skyrun.ui.server import UIServer

N = 100_000
ROWS = 200
RUNNING = ROWS  # the last job of each row
MB = 1 << 20


def status_of(i: int) -> str:
    if i >= N - RUNNING:
        return "running"
    return "failure" if i % 50 == 0 else "timeout" if i % 100 == 1 else "success"


def reason_of(i: int) -> str | None:
    if status_of(i) == "failure":
        return "ValueError: bad input\n  at line 3" if i % 100 == 0 else "KeyError: 'x'"
    return "timed out after 10 s" if status_of(i) == "timeout" else None


@pytest.fixture(scope="module")
def big(skyrun_home):
    client = ComputeClient(backend="local",
                           auth=Auth(org="test", user=f"s{uuid.uuid4().hex[:10]}", backend="local"))
    fn = Function("json.dumps", name="big", auto_start=False, maximum_concurrency=ROWS,
                  client=client)
    fn.save()
    store = client.backend.store
    function = store.get_function(fn.id)
    # The run ends about now: the last job of each row still runs (its bar to now).
    t0 = time.time() - (N // ROWS) * 1.26
    free = [t0] * ROWS  # each row's jobs run back to back, 10 ms apart
    for batch in range(0, N, 5_000):
        reference_id = uuid.uuid4().hex
        records = []
        for i in range(batch, batch + 5_000):
            row = i % ROWS
            start = free[row] + 0.01
            runtime = 0.5 + (i % 7) * 0.25
            free[row] = start + runtime
            status = status_of(i)
            record = new_job_record(f"{reference_id}-{i:05d}", function, reference_id, t0,
                                    [i], None, None, None)
            record.update(status=status, execution_count=1, last_execution_date=start,
                          error_reason=reason_of(i), last_completion_date=None,
                          statistics=None)
            if status != "running":
                peak = (i % 10 + 1) * 100 * MB  # 5 % to 50 % of the 2 GB memory
                record.update(last_completion_date=start + runtime, statistics={
                    "cpu": {"time": int(runtime * 0.5e9), "total": 50.0, "timeseries": []},
                    "memory": {"peak_bytes": peak, "peak_percentage": 100 * peak / (2048 * MB),
                               "total_bytes": peak, "total_percentage": 1.0, "timeseries": []},
                    "network": {}})
            records.append(record)
        store.insert_jobs(reference_id, records)
    server = UIServer(client, port=0).start()
    yield fn, server, client
    server.stop()


def test_the_charts_of_100000_jobs_agree_with_them(browser, big):
    fn, server, client = big
    finished = N - RUNNING
    failures = sum(status_of(i) == "failure" for i in range(N))
    timeouts = sum(status_of(i) == "timeout" for i in range(N))
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    context.add_cookies([{"name": server.cookie_name, "value": server.token, "url": server.url}])
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{server.url}functions/{fn.id}")
    expect(page.locator("#charts")).to_have_attribute("data-rendered", "1", timeout=60_000)

    timeline = page.locator("#chart-timeline")
    expect(timeline).to_have_attribute("data-bars", str(N))
    expect(timeline).to_have_attribute("data-drawn", str(N))
    assert int(timeline.get_attribute("data-lanes")) == ROWS
    drawn = page.evaluate("""() => { const c = skyrunCharts;
        return {runtime: c.runtime.total, memory: c.memory.total, cpu: c.cpu.total,
                completed: c.progress.cumulative[c.progress.cumulative.length - 1],
                running: c.progress.running[c.progress.running.length - 1],
                usage: c.usage.jobs}; }""")
    assert drawn == {"runtime": finished, "memory": finished, "cpu": finished,
                     "completed": finished, "running": RUNNING, "usage": finished}
    # Peak memory 100..1000 MB of 2 GB: the 0-10 % bin up to the 40-50 % bin, none above.
    counts = page.evaluate("() => skyrunCharts.memory.counts")
    assert sum(counts[:5]) == finished and not any(counts[5:])
    groups = {row.locator("a").inner_text(): int(row.get_attribute("data-count"))
              for row in page.locator("#failures tbody tr").all()}
    assert groups == {"ValueError: bad input": failures // 2, "KeyError: 'x'": failures // 2,
                      "timed out after 10 s": timeouts}

    # A click on a bar asks for that one bar's job and opens it: the job of that start.
    index, center, start = page.evaluate("""() => { const t = skyrunCharts.timeline;
        const i = t.count - 1; return [i, t.barCenter(i), t.t.t0 + t.t.start[i] / 1000]; }""")
    job_id = page.evaluate(f"() => skyrunCharts.timeline.jobId({index})")
    job = Job.get(job_id, client=client)
    assert job.function_id == fn.id and job.status == "running"
    assert abs(job.last_execution_date.timestamp() - start) < 0.002
    page.mouse.click(center["x"], center["y"])
    expect(page).to_have_url(f"{server.url}jobs/{job_id}")
    context.close()
    assert not errors, f"JavaScript errors: {errors}"
