"""The Function page's charts in chromium, checked against the data: one module-wide run
of a 50-job Function (real workers), one monitor server and one browser for every test.

With ``SKYRUN_UI_SCREENSHOTS=DIR`` the tests also save the PNG screenshots that
docs/ui.md shows (see "Screenshots" there)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import expect

from skyrun.auth import Auth
from skyrun.compute import ComputeClient, Function, Job
from skyrun.compute.statuses import TERMINAL
from skyrun.ui.server import UIServer
from tests.ui.conftest import CHROMIUM_ARGS  # noqa: F401 - the browser fixture's flags

N_JOBS = 50
SCREENSHOTS = os.environ.get("SKYRUN_UI_SCREENSHOTS")


def work(i):
    import time

    time.sleep(0.02 * (i % 7))
    if i % 10 == 3:
        raise ValueError(f"bad input\nitem {i} was odd")
    if i == 48:
        raise KeyError("missing")
    return i * i


@pytest.fixture(scope="module")
def run(skyrun_home):
    """A Function whose 50 jobs ran (5 failed with two different first lines), and a
    monitor serving its namespace."""
    client = ComputeClient(backend="local",
                           auth=Auth(org="test", user=f"c{uuid.uuid4().hex[:10]}", backend="local"))
    fn = Function(work, name="charted", maximum_concurrency=4, retry_count=0, client=client)
    fn.save()
    fn.map(range(N_JOBS))
    fn.wait_for_completion(timeout=240, interval=0.2)
    server = UIServer(client, port=0).start()
    yield fn, server, client
    server.stop()


@pytest.fixture
def charts_page(browser, run):
    fn, server, _ = run
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    context.add_cookies([{"name": server.cookie_name, "value": server.token, "url": server.url}])
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{server.url}functions/{fn.id}")
    expect(page.locator("#charts")).to_have_attribute("data-rendered", "1")
    yield page
    context.close()
    assert not errors, f"JavaScript errors: {errors}"


def jobs_of(fn) -> list[Job]:
    return list(fn.jobs)


def test_timeline_has_one_bar_per_job(charts_page, run):
    fn, server, _ = run
    page = charts_page
    jobs = jobs_of(fn)
    assert len(jobs) == N_JOBS and all(j.status in TERMINAL for j in jobs)
    timeline = page.locator("#chart-timeline")
    expect(timeline).to_have_attribute("data-bars", str(N_JOBS))
    expect(timeline).to_have_attribute("data-drawn", str(N_JOBS))
    # Packed rows: never more than ran at once (maximum_concurrency 4).
    assert 1 <= int(timeline.get_attribute("data-lanes")) <= 4
    # The page's timeline comes without ids; the bars' ids are asked for in one request.
    drawn = page.evaluate("""async () => { const t = skyrunCharts.timeline;
        const ids = await t.jobIds();
        return Array.from({length: t.count}, (_, i) => [ids[i], t.t.statuses[t.t.status[i]]]); }""")
    assert sorted(map(tuple, drawn)) == sorted((j.id, str(j.status)) for j in jobs)
    if SCREENSHOTS:
        shoot(page, "function-page.png", height=1180)  # title, counts and charts

    # Zooming to the first half of the run draws fewer bars; a click opens a job.
    page.evaluate("""() => { const p = skyrunCharts.timeline.plot;
        const min = p.scales.x.min, max = p.scales.x.max;
        p.setScale("x", {min, max: min + (max - min) / 3}); }""")
    zoomed = int(timeline.get_attribute("data-drawn"))
    assert 0 < zoomed < N_JOBS
    target = page.evaluate("""async () => { const t = skyrunCharts.timeline;
        for (let i = 0; i < t.count; i++) {
          const c = t.barCenter(i); if (c) return [i, await t.jobId(i), c]; }
        return null; }""")
    assert target is not None
    _, job_id, center = target
    page.mouse.click(center["x"], center["y"])
    expect(page).to_have_url(f"{server.url}jobs/{job_id}")
    expect(page.locator("#usage dd").first).not_to_have_text("")
    if SCREENSHOTS:
        expect(page.locator("#log")).not_to_have_text("Loading…")
        shoot(page, "job-page.png")


def test_histograms_and_progress_match_the_jobs(charts_page, run):
    fn, _, _ = run
    page = charts_page
    jobs = jobs_of(fn)
    finished = [j for j in jobs if j.status in TERMINAL]
    runtime = page.evaluate("() => skyrunCharts.runtime")
    assert runtime["total"] == len(finished) == N_JOBS
    # Each job is in the bin of its runtime (last end minus last start).
    want = [0] * len(runtime["counts"])
    for j in finished:
        seconds = (j.last_completion_date - j.last_execution_date).total_seconds()
        want[min(int(seconds / runtime["binWidth"]), len(want) - 1)] += 1
    assert runtime["counts"] == want
    measured = [j for j in finished if j.statistics is not None and j.statistics.memory.peak_bytes]
    memory = page.evaluate("() => skyrunCharts.memory")
    assert memory["total"] == len(measured) > 0
    assert memory["counts"] == counts_by_percent([j.statistics.memory.peak_percentage
                                                  for j in measured])
    cpu = page.evaluate("() => skyrunCharts.cpu")
    assert cpu["counts"] == counts_by_percent([j.statistics.cpu.total for j in measured])
    progress = page.evaluate("() => skyrunCharts.progress")
    assert progress["cumulative"][-1] == sum(progress["done"]) == N_JOBS
    assert max(progress["running"]) <= 4 and progress["running"][-1] == 0
    assert set(progress["limit"]) == {4}
    expect(page.locator("#chart-runtime")).to_have_attribute("data-total", str(N_JOBS))


def counts_by_percent(values: list[float]) -> list[int]:
    counts = [0] * 11
    for v in values:
        counts[min(int(max(v, 0.0) / 10), 10)] += 1
    return counts


def test_failures_link_to_the_filtered_job_table(charts_page, run):
    fn, server, _ = run
    page = charts_page
    rows = page.locator("#failures tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("ValueError: bad input")
    expect(rows.nth(0).locator("td.count")).to_have_text("5")
    # One group per first line: the five ValueErrors differ only after it.
    failed = [j for j in jobs_of(fn) if j.status == "failure"]
    assert len(failed) == 6
    groups = page.evaluate("""() => Array.from(document.querySelectorAll('#failures tbody tr'),
        (tr) => [tr.querySelector('a').textContent, Number(tr.dataset.count)])""")
    want: dict[str, int] = {}
    for j in failed:
        line = j.error_reason.split("\n", 1)[0].strip()
        want[line] = want.get(line, 0) + 1
    assert sorted(map(tuple, groups)) == sorted(want.items())
    link = page.locator("#failures a.failure-link", has_text="KeyError")
    link.click()
    expect(page.locator("#filter-error")).to_have_value("KeyError: 'missing'")
    expect(page.locator("#jobs tbody tr")).to_have_count(1)
    only = [j for j in failed if j.error_reason.startswith("KeyError")]
    expect(page.locator("#jobs tbody tr")).to_have_attribute("data-id", only[0].id)


def test_usage_box_matches_the_sdk(charts_page, run):
    fn, _, _ = run
    usage = fn.usage()
    jobs = jobs_of(fn)
    runtime = sum((j.last_completion_date - j.last_execution_date).total_seconds() for j in jobs)
    cpu = sum(j.statistics.cpu.time for j in jobs if j.statistics is not None) / 1e9
    peak = max(j.statistics.memory.peak_bytes for j in jobs if j.statistics is not None)
    assert usage.jobs == N_JOBS and usage.backend == "local"
    assert usage.runtime_seconds == pytest.approx(runtime, abs=1e-4)  # µs datetimes
    assert usage.cpu_seconds == pytest.approx(cpu, rel=1e-9)
    assert usage.peak_memory_bytes == peak
    assert usage.cost is None and usage.vcpu_seconds is None  # embedded: not priced
    shown = charts_page.evaluate("() => skyrunCharts.usage")
    # The page's figures were summed over other groups: equal up to float rounding.
    assert shown == {k: pytest.approx(v) if isinstance(v, float) else v
                     for k, v in usage.to_dict().items()}
    expect(charts_page.locator('#usage dd[data-key="Cost"]')).to_contain_text("not priced")


def test_functions_list(charts_page, run):
    fn, server, _ = run
    page = charts_page
    page.goto(server.url)
    row = page.locator(f'#functions tr[data-id="{fn.id}"]')
    expect(row.locator('td[data-count="success"]')).to_have_text("44")
    expect(row.locator('td[data-count="failure"]')).to_have_text("6")
    if SCREENSHOTS:
        shoot(page, "functions-list.png")


def shoot(page, name: str, height: int | None = None) -> None:
    """Save a screenshot for the docs (with SKYRUN_UI_SCREENSHOTS=DIR): the whole page,
    or its top ``height`` pixels."""
    folder = Path(SCREENSHOTS)
    folder.mkdir(parents=True, exist_ok=True)
    clip = {"x": 0, "y": 0, "width": 1366, "height": height} if height else None
    page.screenshot(path=str(folder / name), full_page=True, clip=clip)


def test_login_token_in_the_browser(browser, run):
    fn, server, _ = run
    context = browser.new_context()
    try:
        page = context.new_page()
        denied = page.goto(f"{server.url}functions/{fn.id}")
        assert denied.status == 403 and "login token" in page.content()
        # The printed URL: 200 after the redirect that sets the cookie and drops the token.
        opened = page.goto(server.login_url)
        assert opened.status == 200 and page.url == server.url
        cookies = {c["name"]: c for c in context.cookies()}
        assert cookies[server.cookie_name]["value"] == server.token
        assert cookies[server.cookie_name]["httpOnly"] is True
        page.goto(f"{server.url}functions/{fn.id}")
        expect(page.locator("#charts")).to_have_attribute("data-rendered", "1")
        expect(page.locator("#chart-timeline")).to_have_attribute("data-bars", str(N_JOBS))
    finally:
        context.close()


def test_the_charts_requests_start_with_the_page_and_are_made_once(browser, run):
    # The page's head announces the two chart requests (<link rel=preload>), so the browser
    # asks while it loads the scripts, and the scripts' own fetches take those answers.
    fn, server, _ = run
    context = browser.new_context()
    context.add_cookies([{"name": server.cookie_name, "value": server.token, "url": server.url}])
    page = context.new_page()
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url.split("?")[0].rsplit("/", 1)[-1]))
    answer = page.goto(f"{server.url}functions/{fn.id}")
    head = answer.text().split("</head>")[0]
    for name in ("summary", "timeline"):
        assert (f'<link rel="preload" href="/api/functions/{fn.id}/{name}" as="fetch" '
                "crossorigin>") in head
    expect(page.locator("#charts")).to_have_attribute("data-rendered", "1")
    assert asked.count("summary") == 1 and asked.count("timeline") == 1, asked
    context.close()


def test_timeline_rows_never_overlap_and_are_as_few_as_possible(charts_page):
    # The page's packing of bars into rows (typed-array heaps), on random bars with
    # touching ends and running ones: no two bars of a row overlap, and there are
    # exactly as many rows as bars ever overlapped.
    import random

    rng = random.Random(7)
    now = 5_000
    # On a 10 ms grid, so that many bars end exactly where others start.
    bars = sorted((10 * rng.randrange(0, 400), rng.choice([-1, *range(10, 400, 10)]))
                  for _ in range(2_000))
    start = [s for s, _ in bars]
    end = [-1 if d < 0 else s + d for s, d in bars]
    lanes = charts_page.evaluate(
        "([start, end, now]) => Array.from(skyrunCharts.pack("
        "{count: start.length, start, end}, now))", [start, end, now])
    spans = [(s, now if e < 0 else e) for s, e in zip(start, end, strict=True)]
    by_lane: dict[int, list[tuple[int, int]]] = {}
    for lane, span in zip(lanes, spans, strict=True):
        by_lane.setdefault(lane, []).append(span)
    for row in by_lane.values():
        assert all(a[1] <= b[0] for a, b in zip(row, row[1:], strict=False)), row
    # The most bars running at one instant (an end frees its row for a start there).
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    most, running = 0, 0
    for _, step in events:
        running += step
        most = max(most, running)
    assert sorted(by_lane) == list(range(most))
