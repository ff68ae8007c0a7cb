"""Fixtures of the web monitor tests: the UI server in-process on a free port (for the
test's namespace), a JSON client for its API, and Debian's chromium driven by Playwright."""

from __future__ import annotations

import email.message
import json
import urllib.error
import urllib.request
from dataclasses import dataclass

import pytest

from skyrun.ui.server import UIServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture
def ui(namespace):
    """The monitor serving the test's namespace; stopped at the end of the test."""
    server = UIServer(namespace, port=0).start()
    yield server
    server.stop()


@dataclass
class Answer:
    """An HTTP answer: status, headers (looked up regardless of case, as HTTP names
    them) and body (parsed as JSON when it is JSON)."""

    status: int
    headers: email.message.Message
    raw: bytes

    @property
    def data(self):
        """The body as JSON."""
        return json.loads(self.raw)


@pytest.fixture
def call(ui):
    """``call(method, path, body=None, headers=None)`` → ``Answer``; requests carry the
    login cookie, and those that change state the monitor's write header, unless
    ``headers`` says otherwise."""

    def run(method: str, path: str, body=None, headers: dict | None = None,
            raw: bytes | None = None) -> Answer:
        sent = {"Cookie": f"{ui.cookie_name}={ui.token}"}
        if method != "GET":
            sent["X-Skyrun-UI"] = "1"
        sent.update(headers or {})
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        if data is not None:
            sent.setdefault("Content-Type", "application/json")
        request = urllib.request.Request(ui.url.rstrip("/") + path, data=data, method=method,
                                         headers=sent)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return Answer(response.status, response.headers, response.read())
        except urllib.error.HTTPError as err:
            return Answer(err.code, err.headers, err.read())

    return run


@pytest.fixture(scope="session")
def browser():
    """One headless chromium for the session (Debian's package; never downloaded)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, ui):
    """A fresh page of a laptop-sized window; JavaScript errors fail the test."""
    context = browser.new_context(viewport={"width": 1366, "height": 800})
    # Logged in, as after the first visit of the printed URL (tested on its own).
    context.add_cookies([{"name": ui.cookie_name, "value": ui.token, "url": ui.url}])
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors: {errors}"
