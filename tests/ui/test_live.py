"""Live changes pushed by the monitor's server-sent event streams: over HTTP (format,
login, 404, the end of a job's log, a stopping server ending its streams) and in
chromium (a job finishing updates the counts of an open Function page, a running job's
log lines appear on its page), with the pages' own polling blocked so that only the
streams can bring the change."""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
from pathlib import Path

from playwright.sync_api import expect

from skyrun.compute import Function
from skyrun.ui.server import UIServer
from tests.conftest import wait_until


def gated(path):
    """Print a line, wait until the file ``path`` exists, print another, return."""
    import os
    import time

    print("first line", flush=True)
    while not os.path.exists(path):
        time.sleep(0.05)
    print("second line", flush=True)
    return "done"


def echo(x):
    return x


def open_stream(server, path: str, token: bool = True) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    headers = {"Cookie": f"{server.cookie_name}={server.token}"} if token else {}
    conn.request("GET", path, headers=headers)
    return conn.getresponse()


def read_event(response) -> tuple[str, dict] | None:
    """The next event of a stream (comments skipped), or None at its end."""
    name, data = None, None
    while True:
        line = response.fp.readline()
        if not line:
            return None
        line = line.decode().rstrip("\n")
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            data = json.loads(line[6:])
        elif line == "" and name is not None:
            return name, data


def test_streams_over_http(call, ui, namespace):
    fn = Function(echo)
    fn.save()
    job = fn(5)
    job.wait_for_completion(timeout=120, interval=0.1)
    stream = open_stream(ui, f"/api/functions/{fn.id}/events")
    try:
        assert stream.status == 200
        assert stream.getheader("Content-Type").startswith("text/event-stream")
        assert "default-src 'self'" in stream.getheader("Content-Security-Policy")
        name, data = read_event(stream)
        assert name == "function" and data["id"] == fn.id
        assert data["job_statistics"]["success"] == 1 and data["live"] is False
    finally:
        stream.close()
    # A finished job's log: its lines, then the end, then the stream closes.
    stream = open_stream(ui, f"/api/jobs/{job.id}/log/events?offset=0")
    events = []
    while (got := read_event(stream)) is not None:
        events.append(got)
    assert [name for name, _ in events] == ["log", "end"]
    assert events[0][1]["status"] == "success" and events[1][1]["status"] == "success"
    # The API's checks hold for the streams too.
    assert open_stream(ui, f"/api/functions/{fn.id}/events", token=False).status == 403
    missing = call("GET", "/api/functions/nope/events")
    assert missing.status == 404 and "nope" in missing.data["error"]
    assert call("GET", f"/api/jobs/{job.id}/log/events?offset=-1").status == 422


def test_stopping_the_server_ends_its_streams(namespace):
    fn = Function(echo, auto_start=False)
    fn.save()
    server = UIServer(namespace, port=0).start()
    stream = open_stream(server, f"/api/functions/{fn.id}/events")
    assert read_event(stream)[0] == "function"
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 10
    assert read_event(stream) is None  # the stream ended
    # Its thread is gone, and nobody listens on its port any more.
    assert not [t for t in threading.enumerate() if t.name == "skyrun-ui"]
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        conn.request("GET", "/api/info")
        raise AssertionError("the stopped server still answered")
    except ConnectionRefusedError:
        pass


def test_a_finishing_job_updates_the_open_function_page(page, ui, tmp_path):
    gate = tmp_path / "go"
    fn = Function(gated)
    fn.save()
    job = fn(str(gate))
    page.goto(f"{ui.url}functions/{fn.id}")
    running = page.locator("#counts .chip.status-running .chip-count")
    expect(running).to_have_text("1", timeout=120_000)
    # The page follows the stream once its first load is done; the stream's first event
    # may come after the running count (when the job started before the page loaded).
    page.wait_for_function("() => (skyrunLive.events.function || 0) >= 1", timeout=60_000)
    pushed = page.evaluate("() => skyrunLive.events.function")
    # From now on the page's own requests for the Function fail: only the stream can
    # bring the change.
    page.route(re.compile(rf"/api/functions/{fn.id}(\?.*)?$"), lambda route: route.abort())
    Path(gate).touch()
    expect(page.locator("#counts .chip.status-success .chip-count")).to_have_text(
        "1", timeout=120_000)
    expect(running).to_have_text("0")
    assert page.evaluate("() => skyrunLive.events.function") > pushed
    job.wait_for_completion(timeout=60, interval=0.1)
    assert job.status == "success"
    # The job table followed too (its own request, made on the pushed change).
    expect(page.locator(f"tr[data-id='{job.id}']")).to_have_attribute("data-status", "success")


def test_a_running_jobs_log_appears_live(page, ui, tmp_path):
    gate = tmp_path / "go"
    fn = Function(gated)
    fn.save()
    job = fn(str(gate))
    # The page's own log requests fail: lines can only come through the stream.
    page.route(re.compile(r"/api/jobs/[^/]+/log\?"), lambda route: route.abort())
    page.goto(f"{ui.url}jobs/{job.id}")
    expect(page.locator("#log")).to_contain_text("first line", timeout=120_000)
    expect(page.locator("#job-status")).to_have_text("running")
    assert "second line" not in page.locator("#log").text_content()
    Path(gate).touch()
    expect(page.locator("#log")).to_contain_text("second line", timeout=60_000)
    expect(page.locator("#job-status")).to_have_text("success", timeout=60_000)
    wait_until(lambda: page.evaluate("() => skyrunLive.events.end || 0") == 1, timeout=30)
    assert page.evaluate("() => skyrunLive.events.log") >= 2
    expect(page.locator("#result-preview")).to_have_text('"done"')
