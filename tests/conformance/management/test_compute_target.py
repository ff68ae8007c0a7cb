"""``compute_target``: where a Function's jobs run on AWS (Lambda or Batch), validated,
stored, searchable and changeable on both backends (the embedded one ignores it)."""

from __future__ import annotations

import pytest

from skyrun.compute import Function
from skyrun.domain import targets
from skyrun.exceptions import ValidationError


def echo(x):
    return x


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
