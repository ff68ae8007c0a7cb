"""The vendored chart library: the version pinned for ``npm ci``, served by the monitor."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ROOT / "sdk" / "skyrun" / "ui" / "static" / "vendor" / "uplot"


def test_vendored_uplot_is_the_pinned_version():
    pinned = json.loads((ROOT / "package.json").read_text())["devDependencies"]["uplot"]
    locked = json.loads((ROOT / "package-lock.json").read_text())["packages"]
    assert locked["node_modules/uplot"]["version"] == pinned
    assert locked[""]["devDependencies"]["uplot"] == pinned
    script = (VENDOR / "uPlot.iife.min.js").read_text()
    assert re.match(r"/\*! https://github.com/leeoniya/uPlot \(v([\d.]+)\) \*/", script)[1] == pinned
    assert f"uPlot {pinned}" in (VENDOR / "README.md").read_text()
    assert "MIT" in (VENDOR / "LICENSE").read_text() or "Permission is hereby granted" in (
        VENDOR / "LICENSE").read_text()
    installed = ROOT / "node_modules" / "uplot"
    if (installed / "package.json").is_file():  # after `npm ci`: the very same bytes
        assert json.loads((installed / "package.json").read_text())["version"] == pinned
        for name in ("uPlot.iife.min.js", "uPlot.min.css"):
            assert (installed / "dist" / name).read_bytes() == (VENDOR / name).read_bytes()


def test_the_monitor_serves_it(call):
    answer = call("GET", "/static/vendor/uplot/uPlot.iife.min.js")
    assert answer.status == 200 and answer.raw.startswith(b"/*! https://github.com/leeoniya/uPlot")
    assert "javascript" in answer.headers["Content-Type"]
    assert "default-src 'self'" in answer.headers["Content-Security-Policy"]
    assert call("GET", "/static/vendor/uplot/uPlot.min.css").status == 200
    assert call("GET", "/static/vendor/../server.py").status == 404
    assert call("GET", "/static/vendor/uplot/LICENSE").status == 404
