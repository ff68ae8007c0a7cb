"""A named ``map()`` submission: sent again, it stores only what is missing."""

from __future__ import annotations

import pytest

from skyrun.compute import Function
from skyrun.exceptions import ValidationError


def double(x):
    return 2 * x


def test_a_named_map_sent_again_creates_no_duplicate(namespace):
    fn = Function(double, auto_start=False)
    fn.save()
    first = fn.map(range(25), reference_id="run-1", batch_size=10)
    again = fn.map(range(25), reference_id="run-1", batch_size=10)
    assert [j.id for j in again] == [j.id for j in first]
    assert first[0].id == "run-1-00000-0000" and first[24].id == "run-1-00002-0004"
    assert fn.jobs.count() == 25
    other = fn.map(range(5), reference_id="run-2")
    assert fn.jobs.count() == 30 and other[0].id == "run-2-00000-0000"


def test_a_bad_reference_is_refused_before_anything_is_stored(namespace):
    fn = Function(double, auto_start=False)
    fn.save()
    for bad in ["", "-x", "x-", "a b", "a/b", "x" * 65, 7]:
        with pytest.raises(ValidationError, match=r"reference_id: .* is not allowed; allowed: "
                                                  r"1 to 64 letters, digits"):
            fn.map(range(3), reference_id=bad)
    assert fn.jobs.count() == 0
