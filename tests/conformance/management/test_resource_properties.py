"""cpus and memory against the Fargate table (property-based; API.md 9.1-9.2), on both
backends.

The table and the parsing rules are written out below from API.md, independently of
``skyrun.domain.limits``. Every allowed (cpus, memory) pair is accepted by ``save()``
and stored exactly; any other pair is refused with a ``ValidationError`` whose lines are
those of API.md 9.2 (naming the value given, listing what is allowed) and changes nothing
stored; an input that does not parse is refused when assigned, with a ``ValueError`` that
starts ``Unable to assign``.
"""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from skyrun.compute import Function
from skyrun.exceptions import ValidationError
from tests.properties import property_settings


def _steps(lo: int, hi: int, step: int) -> list[int]:
    return list(range(lo, hi + 1, step))


#: API.md 9.2.
TABLE: dict[float, list[int]] = {
    0.25: [512, 1024, 2048],
    0.5: [1024, 2048, 3072, 4096],
    1.0: _steps(2048, 8192, 1024),
    2.0: _steps(4096, 16384, 1024),
    4.0: _steps(8192, 30720, 1024),
    8.0: _steps(16384, 61440, 4096),
    16.0: _steps(32768, 122880, 8192),
}
ALLOWED_CPUS = "0.25, 0.5, 1, 2, 4, 8, 16"
EXAMPLES = {"local": 60, "aws": 25}


def noop():
    return None


@pytest.fixture
def fn(namespace, monkeypatch):
    """A saved Function (whose jobs never start)."""
    # The Fargate table is the rule here; a machine-sized limit of the embedded backend
    # must not stand in for it.
    monkeypatch.setenv("SKYRUN_LOCAL_CPUS", "16")
    monkeypatch.setenv("SKYRUN_LOCAL_MEMORY", "131072")
    function = Function(noop, auto_start=False)
    function.save()
    return function


# -- the reference: API.md 9.1 ------------------------------------------------------------
class Unparsable(Exception):
    pass


def parse_cpus(value) -> float:
    if isinstance(value, str):
        try:
            return float(re.sub(r"[^0-9.]", "", value))
        except ValueError:
            raise Unparsable(value) from None
    return float(value)


def parse_memory(value) -> int:
    if isinstance(value, (int, float)):
        try:
            return int(value)
        except (ValueError, OverflowError):  # NaN, infinities
            raise Unparsable(value) from None
    m = re.fullmatch(r"\s*([0-9]+)\s*(?:mb|mi|mib)?\s*", value, re.IGNORECASE)
    if m:
        return int(m.group(1))
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(?:gb|gi|gib)\s*", value, re.IGNORECASE)
    if m:
        try:
            return int(float(m.group(1)) * 1024)
        except OverflowError:
            raise Unparsable(value) from None
    raise Unparsable(value)


def names(text: str, value: float) -> bool:
    """Whether ``text`` is ``value`` written out exactly."""
    try:
        number = float(text)
    except ValueError:
        return False
    return number == value or (math.isnan(number) and math.isnan(value))


def check_refusal(errors: dict[str, list[str]], cpus: float, memory: int) -> None:
    """The lines of API.md 9.2 for a pair that is not allowed."""
    if cpus not in TABLE:
        assert list(errors) == ["cpus"], errors
        (line,) = errors["cpus"]
        m = re.fullmatch(rf"(\S+) is not an allowed value; allowed: {ALLOWED_CPUS}", line)
        assert m and names(m.group(1), cpus), line
        return
    assert list(errors) == ["memory"], errors
    c = f"{cpus:g}"
    allowed = ", ".join(str(v) for v in TABLE[cpus])
    assert errors["memory"] == [f"{memory} MB is not allowed with cpus={c}; allowed for "
                                f"cpus={c}: {allowed}"]


# -- inputs -------------------------------------------------------------------------------
NEAR_CPUS = [0.25, 0.5, 1, 2, 4, 8, 16, 0, -1, 0.3, 3, 32, 0.125, 1.0000001, 15.999999]
CPUS = st.one_of(
    st.sampled_from(NEAR_CPUS),
    st.floats(-1, 64),
    st.floats(),
    st.tuples(st.sampled_from(NEAR_CPUS), st.sampled_from(["", "vCPU", " vCPUs", "VCPU"]))
    .map(lambda t: f"{t[0]}{t[1]}"),
    st.sampled_from(["abc", "", "1.2.3", "1" * 400]),
)
ALL_MEMORY = sorted({m for ms in TABLE.values() for m in ms})
MB_UNITS = ["", "MB", "mb", "Mi", "MiB", " MB", " mib "]
GB_UNITS = ["GB", "gb", "Gi", "GiB", " GB", " gib"]
MEMORY = st.one_of(
    st.sampled_from(ALL_MEMORY),
    st.integers(-1024, 140_000),
    st.integers(0, 140).map(lambda n: n * 1024),
    st.floats(0, 140_000) | st.sampled_from([math.nan, math.inf, 2048.9]),
    st.tuples(st.sampled_from(ALL_MEMORY + [0, 100, 4097]), st.sampled_from(MB_UNITS))
    .map(lambda t: f"{t[0]}{t[1]}"),
    st.tuples(st.sampled_from(["0.5", "1", "1.5", "2", "3.75", "8", "16", "120", ".5"]),
              st.sampled_from(GB_UNITS)).map(lambda t: f"{t[0]}{t[1]}"),
    st.sampled_from(["100TB", "1.5", "512kb", "", "GB", "9" * 400 + "GB", "-512"]),
)


# -- the properties -----------------------------------------------------------------------
def test_every_fargate_combination_is_accepted(fn):
    """Each pair of the table, in the forms users write it, is saved and stored exactly."""
    forms = 0
    for cpus, memories in TABLE.items():
        for memory in memories:
            forms += 1
            fn.cpus = f"{cpus:g} vCPU" if forms % 3 == 0 else cpus
            fn.memory = (f"{memory // 1024}GB" if forms % 2 == 0 and memory % 1024 == 0
                         else f"{memory}MB" if forms % 5 == 0 else memory)
            fn.save()
            stored = Function.get(fn.id)
            assert (stored.cpus, stored.memory) == (cpus, memory)
            assert isinstance(stored.cpus, float) and isinstance(stored.memory, int)
    assert forms == 74


def test_cpus_and_memory_follow_the_table(fn, skyrun_backend):
    @property_settings(EXAMPLES[skyrun_backend])
    @given(cpus=st.none() | CPUS, memory=st.none() | MEMORY)
    # A value the message must name exactly ("1", as it was, named an allowed value).
    @example(cpus=1.0000001, memory=None)
    @example(cpus="15.999999vCPU", memory=None)
    # Memory that cannot be a number of MB: NaN and infinities, in any form.
    @example(cpus=None, memory=math.inf)
    @example(cpus=None, memory="9" * 400 + "GB")
    @example(cpus=16, memory="120GB")
    @example(cpus=0.25, memory=4096)
    def check(cpus, memory):
        if cpus is None and memory is None:
            return
        before = Function.get(fn.id)
        fresh = Function.get(fn.id)
        try:
            want_cpus = parse_cpus(cpus) if cpus is not None else before.cpus
            want_memory = parse_memory(memory) if memory is not None else before.memory
        except Unparsable:
            field = "cpus" if cpus is not None and _unparsable(parse_cpus, cpus) else "memory"
            with pytest.raises(ValueError, match=f"^Unable to assign {field}"):
                if cpus is not None:
                    fresh.cpus = cpus
                if memory is not None:
                    fresh.memory = memory
            return
        if cpus is not None:
            fresh.cpus = cpus
        if memory is not None:
            fresh.memory = memory
        if want_memory in TABLE.get(want_cpus, ()):
            fresh.save()
            stored = Function.get(fn.id)
            assert (stored.cpus, stored.memory) == (want_cpus, want_memory)
            return
        with pytest.raises(ValidationError) as caught:
            fresh.save()
        check_refusal(caught.value.errors, want_cpus, want_memory)
        after = Function.get(fn.id)
        assert (after.cpus, after.memory, after.modified_date) == (
            before.cpus, before.memory, before.modified_date)
        # A new Function is refused alike, and nothing is stored.
        count = Function.search().count()
        new = Function(noop, cpus=cpus if cpus is not None else want_cpus,
                       memory=memory if memory is not None else want_memory)
        with pytest.raises(ValidationError) as caught:
            new.save()
        check_refusal(caught.value.errors, want_cpus, want_memory)
        assert new.state == "new" and Function.search().count() == count

    check()


def _unparsable(parse, value) -> bool:
    try:
        parse(value)
    except Unparsable:
        return True
    return False
