"""``skyrun`` itself: help, usage errors, ``info``, ``demo``, and the commands that are not
available in this version."""

from __future__ import annotations

from skyrun.compute import Function


def test_usage_and_info(cli, namespace, skyrun_home):
    res = cli("--help")
    assert res.code == 0
    for command in ("demo", "info", "functions", "jobs", "logs", "build-log", "results", "ui",
                    "sandbox"):
        assert f"    {command} " in res.out
    res = cli("functions", "--help")
    assert res.code == 0
    for command in ("list", "show", "start", "stop", "enable", "disable", "delete", "set"):
        assert command in res.out

    for bad in ([], ["fly"], ["functions"], ["jobs"], ["--backend", "gcp", "info"],
                ["info", "--verbose"]):
        res = cli(*bad)
        assert res.code == 2, bad
        assert "usage: skyrun" in res.err

    res = cli("info")
    assert res.code == 0, res.err
    shown = dict(line.split(None, 1) for line in res.out.splitlines())
    assert shown == {"backend": "local", "org": namespace.auth.payload["org"],
                     "namespace": namespace.namespace, "home": str(skyrun_home.resolve())}
    res = cli("info", "--json")
    assert res.json()["namespace"] == namespace.namespace


def test_demo(cli):
    res = cli("demo")
    assert res.code == 0, res.err
    assert "20 of 20 jobs succeeded" in res.out
    assert "'squaring 0'" in res.out
    [fn] = Function.search()
    assert fn.name == "skyrun-demo"
