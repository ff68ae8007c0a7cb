"""Searching stored Functions and Jobs through the SDK (scenarios 13, 38, 39)."""

from __future__ import annotations

import sys
import warnings
from datetime import datetime, timezone

import pytest

from skyrun.auth import Auth
from skyrun.common.search import Collection
from skyrun.compute import (
    ComputeClient,
    Function,
    FunctionStatus,
    Job,
    JobSearch,
    JobStatus,
    Search,
)
from skyrun.exceptions import NotFoundError, ValidationError


def echo(x):
    return x


def exit_with(code):
    sys.exit(code)


def ids(items):
    return [x.id for x in items]


@pytest.fixture
def pending():
    """A stopped Function (its jobs stay pending) with six jobs, two of them canceled."""
    fn = Function(echo, name="pending-fn", auto_start=False)
    fn.save()
    tags = [["red", "team:a"], ["green"], ["red"], [], ["blue", "team:b"], ["Red"]]
    jobs = [fn(i, tags=t) for i, t in enumerate(tags)]
    jobs[1].cancel()
    jobs[4].cancel()
    return fn, jobs


def test_filters_on_pending_and_canceled_jobs(pending):
    fn, jobs = pending
    s = Job.search()
    assert isinstance(s, JobSearch) and s.count() == 6
    assert set(ids(s.filter(Job.status == JobStatus.CANCELED))) == {jobs[1].id, jobs[4].id}
    assert set(ids(s.filter(Job.status == "canceled"))) == {jobs[1].id, jobs[4].id}
    assert s.filter(Job.status != JobStatus.CANCELED).count() == 4
    assert s.filter(Job.status.in_([JobStatus.PENDING, JobStatus.CANCELED])).count() == 6
    assert s.filter(Job.status.any_of(["success"])).count() == 0
    assert s.filter(Job.function_id == fn.id).count() == 6
    # Tags: == means contains, != does not contain, in_ any of, prefix an element's prefix.
    assert set(ids(s.filter(Job.tags == "red"))) == {jobs[0].id, jobs[2].id}
    assert s.filter(Job.tags != "red").count() == 4
    assert set(ids(s.filter(Job.tags.in_(["green", "blue"])))) == {jobs[1].id, jobs[4].id}
    assert set(ids(s.filter(Job.tags.prefix("team:")))) == {jobs[0].id, jobs[4].id}
    assert set(ids(s.filter(Job.tags.like("R%")))) == {jobs[5].id}
    assert set(ids(s.filter(Job.tags.ilike("r%")))) == {jobs[0].id, jobs[2].id, jobs[5].id}
    # Nulls: pending jobs have no runtime; a null matches only isnull.
    assert s.filter(Job.runtime.isnull).count() == 6
    assert s.filter(Job.runtime.isnotnull).count() == 0
    assert s.filter(Job.runtime != 1).count() == 0
    assert s.filter(Job.last_completion_date.isnotnull).count() == 2
    # Combinators.
    red_or_canceled = s.filter((Job.tags == "red") | (Job.status == "canceled"))
    assert red_or_canceled.count() == 4
    assert s.filter((Job.tags == "red") & (Job.status == "canceled")).count() == 0
    assert s.filter(Job.id.prefix(jobs[3].id[:20])).count() >= 1
    assert ids(s.filter(Job.id == jobs[3].id)) == [jobs[3].id]


def test_datetimes_compare_as_utc_instants(pending):
    _, jobs = pending
    s = Job.search()
    created = [j.creation_date for j in jobs]
    assert all(c.tzinfo is not None for c in created)
    middle = s.filter(created[1] <= Job.creation_date < created[4])
    assert set(ids(middle)) == {jobs[1].id, jobs[2].id, jobs[3].id}
    pivot = created[3]
    utc = pivot.astimezone(timezone.utc)
    forms = [pivot, utc, utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), pivot.isoformat(),
             pivot.timestamp(), pivot.astimezone().replace(tzinfo=None)]
    for form in forms:
        assert set(ids(s.filter(Job.creation_date >= form))) == {j.id for j in jobs[3:]}, form
    assert s.filter(Job.creation_date > datetime(2000, 1, 1)).count() == 6
    assert s.filter(Job.creation_date < "2000-01-01T00:00:00Z").count() == 0


def test_sort_limit_count_collect(pending):
    _, jobs = pending
    s = Job.search()
    assert ids(s.sort(Job.creation_date)) == ids(jobs)
    assert ids(s.sort(-Job.creation_date)) == ids(reversed(jobs))
    newest = s.sort(-Job.creation_date).limit(2)
    assert ids(newest) == [jobs[5].id, jobs[4].id]
    assert newest.count() == 6  # count ignores the limit
    two_keys = s.sort(Job.status, -Job.creation_date)
    assert ids(two_keys) == [jobs[4].id, jobs[1].id, jobs[5].id, jobs[3].id, jobs[2].id,
                             jobs[0].id]
    # Descending on a column with nulls puts them first; ascending puts them last.
    with_nulls = ids(s.sort(-Job.last_completion_date, Job.creation_date))
    assert with_nulls[:4] == [jobs[0].id, jobs[2].id, jobs[3].id, jobs[5].id]
    assert ids(s.sort(Job.last_completion_date, Job.creation_date))[-4:] == with_nulls[:4]
    collected = s.filter(Job.status == "pending").collect()
    assert isinstance(collected, Collection) and len(collected) == 4
    assert all(j.state == "saved" for j in collected)
    assert set(collected.each.status) == {JobStatus.PENDING}
    groups = dict(s.collect().groupby("status"))
    assert {k: len(v) for k, v in groups.items()} == {"pending": 4, "canceled": 2}
    assert s.limit(0).collect() == []


def test_search_is_lazy_and_immutable(pending):
    s = Job.search()
    narrowed = s.filter(Job.status == "pending").sort(-Job.creation_date).limit(1)
    assert s.count() == 6 and len(list(s)) == 6
    assert len(list(narrowed)) == 1 and narrowed.count() == 4
    first = s.filter(Job.tags == "red")
    second = first.filter(Job.status == "canceled")
    assert first.count() == 2 and second.count() == 0


def test_builder_errors(pending):
    s = Job.search()
    with pytest.raises(ValueError, match="Cannot filter on property: args"):
        s.filter(Job.args == 1)
    with pytest.raises(ValueError, match="Cannot sort on property: tags"):
        s.sort(Job.tags)
    with pytest.raises(ValueError, match="Cannot sort on property: function_id"):
        s.sort(-Job.function_id)
    with pytest.raises(TypeError):
        s.sort("creation_date")
    with pytest.raises(TypeError, match="Expected an Expression not: str"):
        s.filter("status == 'pending'")
    with pytest.raises(TypeError, match="Expected an Expression not: bool"):
        s.filter(True)
    with pytest.raises(ValidationError, match="Unknown search parameter: color"):
        s.param(color="red")
    with pytest.raises(ValidationError, match="Unknown search parameter: args"):
        s.param(args=[1])
    assert s.param(page_size=5, include=["timings"]).count() == 6


def test_list_helpers_filter_alike_and_warn(pending):
    fn, jobs = pending
    with pytest.warns(DeprecationWarning) as caught:
        listed = Job.list(status=JobStatus.CANCELED, function_id=fn.id)
    messages = {str(w.message) for w in caught}
    assert "The `function_id` parameter is deprecated. Use " \
           "`Job.search().filter(<equivalent filter>)` instead." in messages
    assert "The `status` parameter is deprecated. Use " \
           "`Job.search().filter(<equivalent filter>)` instead." in messages
    assert set(ids(listed)) == {jobs[1].id, jobs[4].id}
    with pytest.warns(DeprecationWarning):
        both = Job.list(status=["pending", "canceled"], page_size=2)
    assert both.count() == 6 and len(list(both)) == 6
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Job.list(tags="red").count() == 2
        assert Job.list(tags=["green", "blue"]).count() == 2


def test_numbers_nulls_and_the_scenario_39_query():
    fn = Function(exit_with, name="exits", maximum_concurrency=3)
    jobs = [fn(code) for code in (3, 0, 5)]
    fn.wait_for_completion(timeout=120, interval=0.1)
    idle = Function(echo, name="idle", auto_start=False)
    waiting = idle(1)
    s = Job.search()
    assert {j.id: j.exit_code for j in s} == {jobs[0].id: 3, jobs[1].id: 0, jobs[2].id: 5,
                                              waiting.id: None}
    assert ids(s.sort(Job.exit_code)) == [jobs[1].id, jobs[0].id, jobs[2].id, waiting.id]
    assert ids(s.sort(-Job.exit_code)) == [waiting.id, jobs[2].id, jobs[0].id, jobs[1].id]
    # Built outside the assert: pytest's assertion rewriting evaluates both halves of a
    # chained comparison separately, so the chain is lost inside an assert.
    in_range = s.filter(2 < Job.exit_code < 6)
    assert set(ids(in_range)) == {jobs[0].id, jobs[2].id}
    assert set(ids(s.filter(Job.exit_code >= 3))) == {jobs[0].id, jobs[2].id}
    assert s.filter(Job.execution_count == 1).count() == 3
    assert s.filter(Job.runtime.isnotnull & (Job.runtime >= 0)).count() == 3
    failed = s.filter(Job.status.in_([JobStatus.FAILURE, JobStatus.TIMEOUT])
                      & (Job.runtime >= 0)).sort(-Job.creation_date)
    assert ids(failed.limit(5)) == [jobs[2].id, jobs[0].id]
    assert ids(failed.limit(1)) == [jobs[2].id] and failed.limit(1).count() == 2
    assert all(j.status == "failure" for j in failed)


def test_function_search_list_and_get():
    a = Function(echo, name="Alpha_one", cpus=2, memory="8GB")
    b = Function(echo, name="alpha-two", auto_start=False, enabled=False)
    c = Function(echo, name="beta[1]*?", cpus=0.25, memory=512)
    for fn in (a, b, c):
        fn.save()
    other = Function(echo, name="Alpha_foreign",
                     client=ComputeClient(auth=Auth(org="test", user="someone-else")))
    other.save()
    s = Function.search()
    assert isinstance(s, Search) and s.count() == 3  # other namespaces are not searched
    assert set(ids(s)) == {a.id, b.id, c.id}
    assert ids(s.filter(Function.name.like("Alpha%"))) == [a.id]
    assert set(ids(s.filter(Function.name.ilike("alpha%")))) == {a.id, b.id}
    assert ids(s.filter(Function.name.like("alpha_two"))) == [b.id]
    assert ids(s.filter(Function.name.like("beta[1]*?"))) == [c.id]
    assert ids(s.filter(Function.name.like("beta[1]%"))) == [c.id]
    assert s.filter(Function.name.like("beta1%")).count() == 0
    assert ids(s.filter(Function.name.prefix("alpha"))) == [b.id]
    assert ids(s.filter(Function.memory == "8GB")) == [a.id]
    assert ids(s.filter(Function.cpus < 1)) == [c.id]
    assert ids(s.filter(Function.enabled == False)) == [b.id]  # noqa: E712
    assert ids(s.filter(Function.status == FunctionStatus.STOPPED)) == [b.id]
    assert ids(s.sort(Function.name)) == [a.id, b.id, c.id]
    assert ids(s.sort(-Function.cpus, Function.name)) == [a.id, b.id, c.id]
    building = [FunctionStatus.BUILDING, FunctionStatus.AWAITING_BUNDLE]
    assert ids(Function.list(status=building)) == ids(s.filter(Function.status.in_(building)))
    settled = [FunctionStatus.READY, FunctionStatus.STOPPED]
    listed = Function.list(status=settled)
    assert set(ids(listed)) == set(ids(s.filter(Function.status.in_(settled)))) \
        == {a.id, b.id, c.id}
    with pytest.raises(NotFoundError):
        Function.get("missing-id")
    a(1)
    with_stats = {f.id: f for f in s.param(include=["job.statistics"])}
    statuses = {st.value for st in JobStatus}
    assert set(with_stats[a.id].job_statistics) == statuses
    assert sum(with_stats[a.id].job_statistics.values()) == 1
    assert with_stats[b.id].job_statistics == dict.fromkeys(statuses, 0)
    assert Function.get(b.id, include=["job.statistics"]).job_statistics["pending"] == 0


def test_bulk_operations_ignore_sort_and_limit(pending):
    fn, jobs = pending
    s = Job.search().filter(Job.function_id == fn.id)
    canceled = s.filter(Job.status == "pending").sort(-Job.creation_date).limit(1).cancel()
    assert {j.id for j in canceled} == {jobs[0].id, jobs[2].id, jobs[3].id, jobs[5].id}
    assert all(j.status == JobStatus.CANCELED for j in canceled)
    assert len(s.limit(2).rerun()) == 6
    assert s.filter(Job.status == "pending").count() == 6
    fn.disable()
    deleted = s.sort(Job.creation_date).limit(1).delete()
    assert sorted(deleted) == sorted(ids(jobs)) and s.count() == 0


def test_jobs_of_one_map_sort_newest_first_in_reverse_submission_order():
    # The jobs of one map() share their creation_date: sorted on it they come in
    # submission order, and sorted descending last submitted first, on every page alike.
    fn = Function(echo, name="ties-fn", auto_start=False)
    fn.save()
    submitted = ids(fn.map(range(7)))
    assert len({j.creation_date for j in fn.jobs}) == 1
    by_function = Job.search().filter(Job.function_id == fn.id)
    assert ids(by_function.sort(Job.creation_date)) == submitted
    newest_first = by_function.sort(-Job.creation_date)
    assert ids(newest_first) == submitted[::-1]
    pages = [ids(newest_first.limit(3)), ids(list(newest_first.limit(6))[3:])]
    assert pages == [submitted[::-1][:3], submitted[::-1][3:6]]
