"""Job inputs either round-trip exactly or are refused before anything is stored
(property-based; API.md 7.2), on both backends.

Random ``args`` and ``kwargs`` (JSON values, values JSON cannot hold, and sizes around the
256 KiB limit) go through ``Job(...).save()`` and ``Function.map()`` on a stopped Function
(so no job runs). The reference below decides which inputs are acceptable: exactly those
that JSON gives back as they were (str keys, str without lone surrogates, no sets, bytes
or other objects) and whose compact UTF-8 JSON is within the limit. Accepted inputs must
read back equal, type for type (``1``, ``1.0`` and ``True`` differ); refused ones must
raise ``ValidationError`` naming the job, with no job stored.
"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from skyrun.compute import Function, Job
from skyrun.domain.limits import MAX_ARGS_BYTES
from skyrun.exceptions import ValidationError
from tests.properties import property_settings


def noop(*args, **kwargs):
    return None


@pytest.fixture
def fn(namespace):
    """A stopped Function: its jobs stay pending."""
    function = Function(noop, auto_start=False)
    function.save()
    return function


# -- values -------------------------------------------------------------------------------
#: Any code point, lone surrogates included (they cannot be encoded as UTF-8).
TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=8)
SAFE_TEXT = st.text(max_size=8)
# (Integers stay far below the 4300 digits past which Python refuses to print them.)
INTEGERS = st.integers(-2**200, 2**200)
SCALARS = st.none() | st.booleans() | INTEGERS | st.floats() | TEXT
#: Values JSON cannot hold. (Tuples are not among them: JSON holds them as lists, as
#: API.md 6.3 says of ``map`` items.)
ALIEN = st.sampled_from([{1, 2}, b"bytes", object(), 1j, frozenset()])
KEYS = TEXT | st.integers(-3, 3) | st.sampled_from([None, True, 1.5])


def values(alien: bool):
    leaves = (SCALARS | ALIEN) if alien else (st.none() | st.booleans() | INTEGERS
                                                | st.floats() | SAFE_TEXT)
    keys = KEYS if alien else SAFE_TEXT
    return st.recursive(leaves, lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(keys, inner, max_size=3), max_leaves=8)


def inputs():
    """``(args, kwargs)``: mostly JSON, sometimes not, sometimes near the size limit."""
    args = st.lists(values(alien=False), max_size=4) | st.lists(values(alien=True), max_size=4)
    kwargs = (st.none() | st.dictionaries(SAFE_TEXT, values(alien=False), max_size=3)
              | st.dictionaries(KEYS, values(alien=True), max_size=3))
    big = st.integers(MAX_ARGS_BYTES - 40, MAX_ARGS_BYTES + 40).map(lambda n: ["x" * n])
    return st.tuples(args | big, kwargs)


# -- the reference ------------------------------------------------------------------------
def _text_ok(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def exact_json(value) -> bool:
    """Whether JSON gives ``value`` back exactly (lists for lists, str keys, ...)."""
    if value is None or isinstance(value, (bool, int)):
        return True
    if isinstance(value, float):
        return True  # NaN and infinities included: Python's JSON reads them back
    if isinstance(value, str):
        return _text_ok(value)
    if isinstance(value, list):
        return all(exact_json(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _text_ok(k) and exact_json(v)
                   for k, v in value.items())
    return False


def size(args, kwargs) -> int:
    def one(v):
        return 0 if v is None else len(json.dumps(v, ensure_ascii=False,
                                                  separators=(",", ":")).encode())
    return one(args) + one(kwargs)


def acceptable(args, kwargs) -> bool:
    return exact_json(args) and exact_json(kwargs) and size(args, kwargs) <= MAX_ARGS_BYTES


def same(a, b) -> bool:
    """Equal, type for type, NaN equal to NaN."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a)
                                                      == math.copysign(1, b))
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b


def stored_count(fn) -> int:
    return fn.jobs.count()


# -- the properties -----------------------------------------------------------------------
#: Examples per property and backend: a job stored on the AWS sandbox takes several
#: requests to moto, so it gets fewer.
EXAMPLES = {"local": 40, "aws": 15}

#: Inputs that once went wrong, always tried first.
PINNED = [
    # dict keys that are not str: JSON would hand back "1", "null", "true", "1.5".
    ([{1: "a"}], None),
    ([{None: 0, True: 1}], {"k": {1.5: 2}}),
    ([{"a": [{"b": {2: 3}}]}], None),
    ([], {"k": 1, 2: "v"}),
    # a lone surrogate cannot be stored as UTF-8.
    (["\ud800"], None),
    (["x\udc80"], {"k": "v"}),
    ([], {"\udfff": 1}),
    # the size limit, exactly at and one byte past it.
    (["x" * (MAX_ARGS_BYTES - 4)], None),
    (["x" * (MAX_ARGS_BYTES - 3)], None),
]


def with_pinned(test):
    for case in PINNED:
        test = example(case=case)(test)
    return test


def test_job_inputs_round_trip_or_are_refused(fn, skyrun_backend):
    @property_settings(EXAMPLES[skyrun_backend])
    @given(case=inputs())
    @with_pinned
    def check(case):
        args, kwargs = case
        before = stored_count(fn)
        if acceptable(args, kwargs):
            job = Job(function_id=fn.id, args=args, kwargs=kwargs)
            job.save()
            stored = Job.get(job.id)
            assert same(stored.args, args) and same(stored.kwargs, kwargs)
            assert stored_count(fn) == before + 1
        else:
            with pytest.raises(ValidationError, match="^job 0: "):
                Job(function_id=fn.id, args=args, kwargs=kwargs).save()
            assert stored_count(fn) == before

    check()


def test_map_inputs_round_trip_or_are_refused(fn, skyrun_backend):
    @property_settings(EXAMPLES[skyrun_backend])
    @given(case=inputs())
    @with_pinned
    def check(case):
        args, kwargs = case
        before = stored_count(fn)
        # A good job first: a bad second one must keep it from being stored too.
        items, kwarg_items = [[1], args], [{"n": 0}, kwargs]
        if acceptable(args, kwargs):
            result = fn.map(items, kwargs=kwarg_items)
            stored = Job.get(result[1].id)
            assert same(stored.args, args) and same(stored.kwargs, kwargs)
            assert stored_count(fn) == before + 2
        else:
            with pytest.raises(ValidationError, match="^job 1: "):
                fn.map(items, kwargs=kwarg_items)
            assert stored_count(fn) == before

    check()
