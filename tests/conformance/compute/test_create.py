"""Creating Functions: defaults, validation, entrypoints (API.md 6.2, 9; scenarios 1-5, 9-10)."""

from __future__ import annotations

import json
import sys

import pytest

from skyrun.compute import (
    Cpus,
    Function,
    FunctionStatus,
    Job,
    JobStatus,
    Memory,
)
from skyrun.exceptions import ValidationError

PY = f"python{sys.version_info.major}.{sys.version_info.minor}:latest"


def f(a, b):
    return a**b


def _helper(n):
    return n * 2


def recursive(n):
    """Uses a module-level helper, a top-level import and recursion."""
    if n <= 0:
        return json.loads(json.dumps({"done": True}))
    return {"n": _helper(n), "rest": recursive(n - 1)}


def test_save_sets_defaults_and_becomes_ready(namespace):
    fn = Function(f, cpus=1, memory=8192, maximum_concurrency=1, timeout=60, retry_count=1)
    assert fn.state == "new"
    fn.save()
    assert fn.state == "saved"
    assert fn.name == "f"
    assert fn.id
    assert fn.image == PY
    d = fn.to_dict()
    assert (d["cpus"], d["memory"], d["maximum_concurrency"], d["timeout"], d["retry_count"]) \
        == (1.0, 8192, 1, 60, 1)
    assert d["namespace"] == namespace.namespace
    fn.wait_for_completion(interval=0.1, timeout=30)
    assert fn.status == FunctionStatus.READY
    assert fn.build_log().strip()


def test_call_saves_then_runs(namespace):
    fn = Function(f)
    job = fn(2, 8)
    assert fn.state == "saved"
    assert job.args == [2, 8]
    assert job.status in (JobStatus.PENDING, JobStatus.RUNNING, JobStatus.SUCCESS)
    job.wait_for_completion(interval=0.05, timeout=60)
    assert job.status == JobStatus.SUCCESS
    assert job.result() == 256


def test_missing_entrypoint_and_lambda(namespace):
    fn = Function()
    with pytest.raises(ValidationError, match="Function not provided!"):
        fn.save()
    assert fn.state == "new"
    assert Function.search().count() == 0
    job = Function(lambda x: x + 1)(1)
    job.wait_for_completion(interval=0.05, timeout=60)
    assert job.result() == 2
    assert job.function.name == "<lambda>"


def test_main_function_with_helpers_imports_and_recursion(namespace):
    job = Function(recursive)(2)
    job.wait_for_completion(interval=0.05, timeout=60)
    assert job.status == JobStatus.SUCCESS, job.error_reason
    assert job.result() == {"n": 4, "rest": {"n": 2, "rest": {"done": True}}}


def test_image_of_other_minor_version_is_refused_for_callables(namespace):
    other = f"python{sys.version_info.major}.{sys.version_info.minor - 1}:latest"
    with pytest.raises(ValidationError) as err:
        Function(f, image=other).save()
    text = str(err.value)
    assert "image" in err.value.errors
    assert f"{sys.version_info.major}.{sys.version_info.minor - 1}" in text
    assert f"{sys.version_info.major}.{sys.version_info.minor}" in text
    assert Function.search().count() == 0


def test_bad_image_format(namespace):
    with pytest.raises(ValidationError, match=r"image: must be python<major>\.<minor>\[:latest\]"):
        Function(f, image="ubuntu:22.04").save()


@pytest.mark.parametrize("cpus, memory, expected", [
    ("1", "8Gb", (1.0, 8192)), ("8VCPUs", "8GB", (8.0, 8192)), ("0.25", "8Gi", (0.25, 8192)),
    (4, "512Mb", (4.0, 512)), (4, "512", (4.0, 512)), (1, "1GiB", (1.0, 1024)),
    (1, "1024MiB", (1.0, 1024)), ("16 vCPU", " 2 GB", (16.0, 2048)),
    ("0.25vCPU", "1.5GB", (0.25, 1536)), (2, 512.9, (2.0, 512)),
])
def test_cpus_and_memory_parsing(cpus, memory, expected):
    assert (Cpus(cpus), Memory(memory)) == expected
    fn = Function(f, cpus=cpus, memory=memory)
    assert (fn.cpus, fn.memory) == expected


def test_memory_parse_errors():
    for bad in ("100TB", "1.5", "abc"):
        with pytest.raises(ValueError, match="Unable to convert memory to megabytes"):
            Memory(bad)
    with pytest.raises(ValueError, match="Unable to assign memory"):
        Function(f, memory="100TB")
    with pytest.raises(ValueError, match="Unable to assign cpus"):
        Function(f, cpus="abc")


def test_resource_combinations(namespace):
    with pytest.raises(ValidationError) as err:
        Function(f, cpus=0.25, memory=4096).save()
    assert "memory: 4096 MB is not allowed with cpus=0.25; allowed for cpus=0.25: " \
           "512, 1024, 2048" in str(err.value)
    with pytest.raises(ValidationError, match="cpus: 3 is not an allowed value; allowed: "
                                              "0.25, 0.5, 1, 2, 4, 8, 16"):
        Function(f, cpus=3, memory=4096).save()
    assert Function.search().count() == 0
    fn = Function(f, cpus=16, memory="120GB")
    fn.save()
    assert (fn.cpus, fn.memory) == (16.0, 122880)


def test_defaults_and_limits(namespace):
    fn = Function(f)
    fn.save()
    assert (fn.cpus, fn.memory, fn.maximum_concurrency, fn.timeout, fn.retry_count) == \
        (1.0, 2048, 10, 3600, 0)
    assert fn.enabled is True and fn.auto_start is True
    assert fn.namespace == namespace.namespace and fn.owner == namespace.auth.namespace
    for field, value in [("maximum_concurrency", 0), ("maximum_concurrency", 1001),
                         ("timeout", 0), ("timeout", 1209601), ("retry_count", 11),
                         ("retry_count", -1), ("maximum_concurrency", "ten")]:
        with pytest.raises(ValidationError) as err:
            Function(f, **{field: value}).save()
        assert field in err.value.errors, (field, value)
        assert repr(value) in str(err.value) or str(value) in str(err.value)
    with pytest.raises(ValidationError) as err:
        Function(f, timeout=0, retry_count=11).save()
    assert set(err.value.errors) == {"timeout", "retry_count"}
    assert "timeout:" in str(err.value) and "retry_count:" in str(err.value)
    assert Function.search().count() == 1


def test_non_callable_entrypoint(namespace):
    with pytest.raises(ValidationError, match="Compute main function must be a callable"):
        Function(42).save()
    assert Function.search().count() == 0


def test_user_built_documents_reject_unknown_and_readonly_keys(namespace):
    with pytest.raises(KeyError):
        Function(f, colour="blue")
    with pytest.raises(ValueError, match="Unable to set readonly attribute 'status'"):
        Function(f, status="ready")
    job = Job(function_id="x")
    with pytest.raises(ValueError, match="Unable to set readonly attribute 'exit_code'"):
        job.exit_code = 3
