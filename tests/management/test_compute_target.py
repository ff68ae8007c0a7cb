"""``compute_target``: where a Function's jobs run on AWS (Lambda or Batch), validated,
stored, searchable and changeable on both backends (the embedded one ignores it)."""

from __future__ import annotations

import pytest

from skyrun.compute import Function
from skyrun.domain import targets
from skyrun.exceptions import ValidationError


def echo(x):
    return x


@pytest.mark.local_only
def test_the_rule():
    choose = targets.choose
    # The API's default timeout (3,600 s) is past Lambda's 900 s: an untouched Function
    # goes to Batch; 900 s or less goes to Lambda.
    assert choose({"timeout": 3600, "cpus": 1.0, "memory": 2048}) == "batch"
    assert choose({"timeout": 900, "cpus": 1.0, "memory": 2048}) == "lambda"
    assert choose({"timeout": 1200, "cpus": 1.0, "memory": 2048,
                   "compute_target": "auto"}) == "batch"
    assert choose({"timeout": 60, "cpus": 1.0, "memory": 2048,
                   "compute_target": "batch"}) == "batch"
    # Memory, and the memory the cpus need (one vCPU per 1,769 MB, 10,240 MB at most).
    assert choose({"timeout": 60, "cpus": 4.0, "memory": 10240}) == "lambda"
    assert choose({"timeout": 60, "cpus": 4.0, "memory": 12288}) == "batch"
    assert choose({"timeout": 60, "cpus": 8.0, "memory": 16384}) == "batch"
    assert targets.lambda_memory(4.0, 8192) == 8192
    assert targets.lambda_memory(4.0, 4096) == 4 * 1769
    assert targets.lambda_memory(0.25, 512) == 512
    problems = targets.lambda_misfits(1200, 8.0, 16384)
    assert set(problems) == {"timeout", "memory", "cpus"}
    assert "14152 MB" in problems["cpus"] and "10240 MB" in problems["cpus"]


def test_timeout_1200_goes_to_batch_under_auto_and_is_refused_under_lambda():
    fn = Function(echo, name="long", timeout=1200)
    fn.save()
    assert fn.compute_target == "auto"
    record = fn._backend.store.get_function(fn.id)
    assert record["compute_target"] == "auto"
    assert targets.choose(record) == "batch"

    before = Function.search().count()
    with pytest.raises(ValidationError) as caught:
        Function(echo, name="refused", timeout=1200, compute_target="lambda").save()
    message = str(caught.value)
    assert "compute_target" in caught.value.errors
    assert "timeout=1200 seconds is more than Lambda's limit of 900 seconds" in message
    assert Function.search().count() == before  # nothing stored

    with pytest.raises(ValidationError) as caught:
        Function(echo, compute_target="gpu").save()
    assert "'gpu' is not an allowed value; allowed: auto, lambda, batch" in str(caught.value)
    with pytest.raises(ValidationError) as caught:
        Function(echo, timeout=60, cpus=8, memory="16GB", compute_target="lambda").save()
    assert "cpus=8 vCPUs need 14152 MB on Lambda" in str(caught.value)
    assert Function.search().count() == before


def test_saved_searchable_and_changeable_like_memory():
    quick = Function(echo, name="quick", timeout=300, compute_target="lambda")
    quick.save()
    slow = Function(echo, name="slow", compute_target="batch")
    slow.save()
    found = Function.search().filter(Function.compute_target == "lambda")
    assert [f.id for f in found] == [quick.id]
    assert Function.get(slow.id).compute_target == "batch"

    # A change that would break the Lambda limits of a 'lambda' Function is refused and
    # changes nothing; moving it to 'auto' first lets the timeout grow.
    quick.timeout = 1200
    with pytest.raises(ValidationError) as caught:
        quick.save()
    assert "timeout=1200 seconds" in str(caught.value)
    assert Function.get(quick.id).timeout == 300
    quick = Function.get(quick.id)
    quick.compute_target = "auto"
    quick.timeout = 1200
    quick.save()
    stored = Function.get(quick.id)
    assert (stored.compute_target, stored.timeout) == ("auto", 1200)
    slow.compute_target = "lambda"
    slow.timeout = 900
    slow.save()
    assert Function.get(slow.id).compute_target == "lambda"
    assert [f.id for f in Function.search().filter(Function.compute_target == "lambda")] \
        == [slow.id]
