"""The search DSL itself: building expressions, their errors, and evaluating them on
records (no store involved)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from skyrun.common.search import (
    And,
    Collection,
    Compare,
    In,
    IsNull,
    Like,
    Or,
    Prefix,
    SortKey,
    matches,
    sort_records,
)
from skyrun.compute import Function, FunctionStatus, Job, JobStatus

UTC = timezone.utc


def test_comparisons_build_expressions():
    assert isinstance(Job.runtime == 5, Compare)
    for expr, op in [(Job.runtime != 5, "!="), (Job.runtime < 5, "<"), (Job.runtime <= 5, "<="),
                     (Job.runtime > 5, ">"), (Job.runtime >= 5, ">=")]:
        assert (expr.name, expr.op, expr.value) == ("runtime", op, 5)
    reflected = 5 < Job.runtime
    assert (reflected.op, reflected.value) == (">", 5)


def test_chained_range_becomes_and():
    expr = 10 < Job.runtime < 60
    assert isinstance(expr, And)
    assert (expr.left.op, expr.left.value, expr.right.op, expr.right.value) == (">", 10, "<", 60)
    assert matches(expr, {"runtime": 30})
    assert not matches(expr, {"runtime": 60})
    assert not matches(expr, {"runtime": 10})
    lo, hi = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 2, 1, tzinfo=UTC)
    dates = lo <= Job.creation_date <= hi
    assert isinstance(dates, And)
    assert matches(dates, {"creation_date": lo.timestamp() + 1})


def test_truth_test_does_not_leak_into_next_comparison():
    first = Job.runtime > 5
    assert first  # __bool__ must not make the next, unrelated comparison a range
    second = Job.runtime < 3
    assert isinstance(second, Compare)
    assert matches(second, {"runtime": 1})


def test_combinators():
    both = (Job.status == "failure") & (Job.runtime > 60)
    either = (Job.status == "failure") | (Job.runtime > 60)
    assert isinstance(both, And) and isinstance(either, Or)
    assert matches(both, {"status": "failure", "runtime": 61})
    assert not matches(both, {"status": "failure", "runtime": 60})
    assert matches(either, {"status": "success", "runtime": 61})
    assert not matches(either, {"status": "success", "runtime": 1})
    with pytest.raises(TypeError, match="Expected an Expression not: int"):
        (Job.runtime > 1) & 5


def test_membership_strings_and_nulls():
    assert isinstance(Job.status.in_(["failure"]), In)
    assert isinstance(Job.status.any_of(["failure"]), In)
    with pytest.raises(ValueError, match="in_ expression requires at least one item"):
        Job.status.in_([])
    assert isinstance(Function.name.prefix("ab"), Prefix)
    assert isinstance(Function.name.startswith("ab"), Prefix)
    assert isinstance(Function.name.like("a%"), Like)
    assert isinstance(Function.name.ilike("a%"), Like)
    assert isinstance(Job.runtime.isnull, IsNull)
    assert isinstance(Job.runtime.isnotnull, IsNull)
    record = {"name": "Alpha_1", "runtime": None}
    assert matches(Function.name.like("Alpha%"), record)
    assert not matches(Function.name.like("alpha%"), record)  # like is case-sensitive
    assert matches(Function.name.ilike("alpha%"), record)
    assert matches(Function.name.like("Alph__1"), record)
    assert matches(Function.name.prefix("Alp"), record)
    assert not matches(Function.name.prefix("alp"), record)
    assert matches(Job.runtime.isnull, record)
    assert not matches(Job.runtime.isnotnull, record)
    # A null value matches only isnull.
    for expr in (Job.runtime == 1, Job.runtime != 1, Job.runtime < 1, Job.runtime.in_([1])):
        assert not matches(expr, record)


def test_values_take_the_attribute_type():
    assert (Job.status == JobStatus.SUCCESS).value == "success"
    assert Job.status.in_([JobStatus.FAILURE, "timeout"]).values == ("failure", "timeout")
    assert (Function.status == FunctionStatus.READY).value == "ready"
    assert (Function.memory == "16GB").value == 16384
    assert (Function.cpus == "8VCPUs").value == 8.0
    instant = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    forms = [instant, instant.astimezone(timezone(timedelta(hours=5))),
             instant.astimezone().replace(tzinfo=None),  # naive means local time
             "2024-05-01T12:00:00Z", "2024-05-01T14:00:00+02:00", instant.timestamp()]
    assert {(Job.creation_date > f).value for f in forms} == {instant.timestamp()}
    with pytest.raises(ValueError, match="Expected datetime, iso formatted date or unix"):
        _ = Job.creation_date > "yesterday"


def test_list_attributes_mean_contains():
    record = {"tags": ["red", "green"]}
    assert matches(Job.tags == "red", record)
    assert not matches(Job.tags == "blue", record)
    assert matches(Job.tags != "blue", record)
    assert not matches(Job.tags != "red", record)
    assert matches(Job.tags.in_(["blue", "green"]), record)
    assert not matches(Job.tags.in_(["blue"]), record)
    assert matches(Job.tags.prefix("gr"), record)
    assert not matches(Job.tags.prefix("bl"), record)


def test_filter_and_sort_permissions_are_checked_when_built():
    with pytest.raises(ValueError, match="Cannot filter on property: args"):
        _ = Job.args == 1
    with pytest.raises(ValueError, match="Cannot filter on property: environment"):
        _ = Function.environment.isnull
    with pytest.raises(ValueError, match="Cannot filter on property: kwargs"):
        Job.kwargs.in_([1])
    with pytest.raises(ValueError, match="Cannot sort on property: tags"):
        _ = -Job.tags
    with pytest.raises(ValueError, match="Cannot sort on property: image"):
        Function.image.sort_key()
    assert -Job.creation_date == SortKey("creation_date", True)


def test_sort_records_puts_nulls_last_ascending_first_descending():
    records = [{"id": "a", "r": 2, "s": "x"}, {"id": "b", "r": None, "s": "x"},
               {"id": "c", "r": 1, "s": "y"}, {"id": "d", "r": 3, "s": "x"}]
    up = sort_records(records, [SortKey("r")])
    assert [r["id"] for r in up] == ["c", "a", "d", "b"]
    down = sort_records(records, [SortKey("r", True)])
    assert [r["id"] for r in down] == ["b", "d", "a", "c"]
    two = sort_records(records, [SortKey("s"), SortKey("r", True)])
    assert [r["id"] for r in two] == ["b", "d", "a", "c"]


class _Item:
    def __init__(self, kind, n):
        self.kind, self.n = kind, n

    def double(self):
        return self.n * 2


def test_collection_helpers():
    items = Collection([_Item("a", 3), _Item("b", 1), _Item("a", 2)])
    assert items.each.n == [3, 1, 2]
    assert items.each.double() == [6, 2, 4]
    assert items.map(lambda x: x.n + 1) == [4, 2, 3]
    assert [x.n for x in items.filter(lambda x: x.kind == "a")] == [3, 2]
    assert [x.n for x in items.sorted("n")] == [1, 2, 3]
    assert [x.n for x in items.sorted(lambda x: -x.n)] == [3, 2, 1]
    groups = {k: [x.n for x in g] for k, g in items.groupby("kind")}
    assert groups == {"a": [3, 2], "b": [1]}
    assert isinstance(items.filter(lambda x: True), Collection)
