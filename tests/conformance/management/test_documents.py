"""Documents (section 4): keys, read-only and immutable attributes, state, to_dict,
update, repr; a stored job's 17 keys (scenario 17)."""

from __future__ import annotations

import json

import pytest

from skyrun.common.document import DocumentState
from skyrun.compute import Function, Job, JobStatus
from skyrun.exceptions import NotFoundError

JOB_KEYS = {"id", "function_id", "creation_date", "args", "kwargs", "environment",
            "error_reason", "execution_count", "exit_code", "last_completion_date",
            "last_execution_date", "runtime", "status", "statistics", "tags",
            "provisioning_time", "pull_time"}


def add(a, b):
    return a + b


@pytest.fixture
def stopped():
    """A saved Function whose jobs stay pending."""
    fn = Function(add, auto_start=False)
    fn.save()
    return fn


def test_user_built_documents_reject_unknown_and_readonly_keys():
    with pytest.raises(KeyError):
        Function(add, colour="red")
    with pytest.raises(KeyError):
        Job(function_id="x", colour="red")
    with pytest.raises(ValueError, match="Unable to set readonly attribute 'status'"):
        Function(add, status="ready")
    with pytest.raises(ValueError, match="Unable to set readonly attribute 'id'"):
        Job(function_id="x", id="abc")
    job = Job(function_id="x")
    with pytest.raises(ValueError, match="Unable to set readonly attribute 'runtime'"):
        job.runtime = 3
    with pytest.raises(KeyError):
        job.update(colour="red")
    job.update(ignore_missing=True, colour="red", tags=["a"])
    assert job.tags == ["a"]


def test_scenario_17_job_state_and_keys(stopped):
    job = Job(function_id=stopped.id, args=[1, 2], kwargs={"key": "blah"},
              environment={"FOO": "BAR"}, tags=["tag1", "tag2"])
    assert job.state == DocumentState.NEW == "new"
    job.save()
    assert job.state == "saved" and job.status == JobStatus.PENDING
    stored = Job.get(job.id).to_dict()
    assert set(stored) == JOB_KEYS
    json.dumps(stored)  # JSON-encodable
    assert stored["args"] == [1, 2] and stored["kwargs"] == {"key": "blah"}
    assert stored["environment"] == {"FOO": "BAR"} and stored["tags"] == ["tag1", "tag2"]
    assert stored["status"] == "pending" and stored["creation_date"].endswith("Z")
    with pytest.raises(NotFoundError):
        Job(function_id="no-such-function", args=[1]).save()


def test_state_tracks_changes_and_equal_reassignment(stopped):
    job = stopped(1, 2, tags=["a"])
    assert job.state == "saved" and not job.is_modified
    job.tags = ["a"]  # an equal value is no change
    assert job.state == "saved"
    job.tags = ["b"]
    assert job.state == "modified" and job.to_dict(only_modified=True) == {"tags": ["b"]}
    job.tags = ["a"]
    assert job.state == "saved"
    stopped.timeout = stopped.timeout
    assert stopped.state == "saved"
    stopped.memory = "2GB"  # 2048, the stored value
    assert stopped.state == "saved"
    stopped.memory = "4GB"
    assert stopped.state == "modified"


@pytest.mark.parametrize("change", [
    lambda t: t.append("x"), lambda t: t.extend(["x"]), lambda t: t.insert(0, "x"),
    lambda t: t.remove("a"), lambda t: t.pop(), lambda t: t.clear(),
    lambda t: t.__delitem__(0), lambda t: t.__setitem__(0, "x"), lambda t: t.__iadd__(["x"]),
])
def test_list_changes_in_place_mark_modified(stopped, change):
    job = stopped(1, 2, tags=["a"])
    change(job.tags)
    assert job.state == "modified"
    job.save()
    assert job.state == "saved" and Job.get(job.id).tags == job.tags


def test_augmented_assignment_on_tags(stopped):
    job = stopped(1, 2)
    assert job.tags == []
    job.tags += ["new"]
    assert job.state == "modified"
    job.save()
    assert Job.get(job.id).tags == ["new"]


def test_to_dict_flags_and_repr():
    fn = Function(add, name="adder", cpus=1, memory=4096)
    full = fn.to_dict()
    assert full["name"] == "adder" and full["cpus"] == 1.0 and full["memory"] == 4096
    assert full["id"] is None
    assert "id" not in fn.to_dict(exclude_readonly=True)
    assert "status" not in fn.to_dict(exclude_readonly=True)
    assert set(fn.to_dict(exclude_none=True)) == {"name", "cpus", "memory"}
    assert repr(fn).startswith("Function(") and "name='adder'" in repr(fn)
    fn.save()
    assert fn.to_dict(only_modified=True) == {}
    fn.name = "renamed"
    assert fn.to_dict(only_modified=True) == {"name": "renamed"}
    stored = fn.to_dict()
    assert stored["status"] == "ready" and stored["creation_date"].endswith("Z")
    json.dumps(stored)
    fn.update(name="again", timeout=60)
    assert fn.to_dict(only_modified=True) == {"name": "again", "timeout": 60}


def test_datetime_attributes_are_aware(stopped):
    job = stopped(1, 2)
    assert job.creation_date.tzinfo is not None
    assert job.creation_date.utcoffset() == job.creation_date.astimezone().utcoffset()


def test_deleted_documents_keep_only_state(stopped):
    job = stopped(1, 2)
    job.delete()
    assert job.state == "deleted"
    for name in ("id", "status", "tags", "to_dict", "save", "refresh", "is_modified"):
        with pytest.raises(AttributeError, match="Job has been deleted"):
            getattr(job, name)
    stopped.delete()
    assert stopped.state == DocumentState.DELETED
    for name in ("id", "name", "status", "save", "jobs", "map", "delete", "job_statistics"):
        with pytest.raises(AttributeError, match="Function has been deleted"):
            getattr(stopped, name)
    assert "deleted" in repr(stopped)
