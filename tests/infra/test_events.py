"""The events stack: the Lambda handlers and their rules."""

from __future__ import annotations

from skyrun.backends.aws import resources


def _functions(synth):
    return {
        f["Properties"]["Handler"]: f["Properties"]
        for f in synth.of_type("events", "AWS::Lambda::Function").values()
    }


def test_two_handlers_from_the_runtime_package(synth):
    functions = _functions(synth)
    assert set(functions) == {
        "skyrun_runtime.lambdas.build_finished",
        "skyrun_runtime.lambdas.reconcile",
    }
    for props in functions.values():
        assert props["Runtime"].startswith("python3.")
        assert props["LoggingConfig"]["LogGroup"]
    assert functions["skyrun_runtime.lambdas.reconcile"]["Timeout"] < 60


def test_handlers_get_every_resource_name_the_sdk_reads(synth):
    expected = {
        resources.environment_variable(key)
        for key, part in resources.OUTPUTS.items()
        if part != resources.EVENTS
    } | {"SKYRUN_BACKEND", resources.DEPLOYMENT_VARIABLE}
    for props in _functions(synth).values():
        variables = props["Environment"]["Variables"]
        assert set(variables) == expected
        assert variables[resources.DEPLOYMENT_VARIABLE] == "skyrun"
        assert variables["SKYRUN_WORKER_ASSIGN_PUBLIC_IP"] == "ENABLED"


def test_handler_code_is_the_flat_sdk_and_runtime_packages(synth):
    asset_dirs = [p for p in synth.outdir.iterdir() if (p / "skyrun_runtime").is_dir()]
    assert len(asset_dirs) == 1
    code = asset_dirs[0]
    assert (code / "skyrun_runtime" / "lambdas.py").is_file()
    assert (code / "skyrun" / "backends" / "aws" / "resources.py").is_file()
    assert not list(code.rglob("__pycache__"))


def test_build_finished_runs_when_a_build_of_the_project_ends(synth):
    rules = synth.by_path("events", "AWS::Events::Rule")
    (rule,) = [r["Properties"] for p, r in rules.items() if "/BuildFinished/" in p]
    pattern = rule["EventPattern"]
    assert pattern["source"] == ["aws.codebuild"]
    assert pattern["detail-type"] == ["CodeBuild Build State Change"]
    assert sorted(pattern["detail"]["build-status"]) == ["FAILED", "STOPPED", "SUCCEEDED"]
    # The images stack's project, by a cross-stack reference.
    assert "skyrun-images" in str(pattern["detail"]["project-name"])
    (target,) = rule["Targets"]
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0


def test_reconcile_runs_every_minute(synth):
    rules = synth.by_path("events", "AWS::Events::Rule")
    (rule,) = [r["Properties"] for p, r in rules.items() if "/Reconciler/" in p]
    assert rule["ScheduleExpression"] == "rate(1 minute)"
    assert rule["State"] == "ENABLED"
    assert len(rule["Targets"]) == 1
