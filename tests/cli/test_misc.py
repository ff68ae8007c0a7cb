"""``skyrun`` itself: help, usage errors, ``info``, ``demo`` and ``prune-envs``."""

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


def test_prune_envs_removes_only_unused_environments(cli, namespace, skyrun_home):
    import json
    import shutil

    from skyrun.backends.local.envs import EnvironmentCache
    from skyrun.backends.ports import FUNCTION

    fn = Function(lambda: 1)
    fn.save()
    backend = fn._client.backend
    cache = EnvironmentCache(backend.home)
    used = backend.store.get_function(fn.id)["env_hash"]
    # An environment left behind by a Function deleted long ago.
    orphan = "0" * 24
    shutil.copytree(cache.path(used), cache.path(orphan), symlinks=True)
    res = cli("--json", "prune-envs")
    assert res.code == 0, res.err
    assert orphan in json.loads(res.out)["removed"]
    in_use = {r["env_hash"] for r in backend.store.query(FUNCTION, None, [])}
    assert orphan not in cache.hashes()
    assert used in cache.hashes() and set(cache.hashes()) <= in_use
    res = cli("prune-envs")
    assert res.code == 0 and res.out.startswith("removed 0 unused environment(s)"), res.out
