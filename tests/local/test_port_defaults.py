"""The defaults that the ports in ``skyrun.backends.ports`` give an adapter which does not
override them, checked against the SQLite store's own versions on the same records."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from skyrun.backends.local import LocalBackend
from skyrun.backends.ports import Store
from skyrun.compute.operations import new_job_record
from skyrun.compute.statuses import FunctionStatus
from skyrun.ui.views import JOB_STATUSES


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return LocalBackend(tmp_path_factory.mktemp("ports")).store


def _function(store) -> dict:
    t = time.time()
    record = {"id": uuid.uuid4().hex, "namespace": "test:ports", "owner": "ports",
              "name": "f", "image": "python3.11:latest", "cpus": 1.0, "memory": 512,
              "maximum_concurrency": 10, "timeout": 60, "retry_count": 0,
              "enabled": True, "auto_start": True, "environment": {},
              "status": FunctionStatus.READY.value, "creation_date": t, "modified_date": t,
              "python": "3.11", "requirements": [], "entrypoint": "callable"}
    store.create_function(record)
    return record


def _jobs(store, function: dict, states: list[tuple[str, float | None, float | None]]) -> None:
    """Jobs in the given ``(status, start, end)`` states."""
    ref = uuid.uuid4().hex
    t = time.time()
    records = [new_job_record(uuid.uuid4().hex, function, ref, t, "[]", "{}", {}, [])
               for _ in states]
    store.insert_jobs(ref, records)
    for record, (status, start, end) in zip(records, states, strict=True):
        store.update_job(record["id"], {"status": status, "last_execution_date": start,
                                        "last_completion_date": end})


def _parsed(columns: dict) -> dict:
    return {k: (json.loads(v) if isinstance(v, str) else v) for k, v in columns.items()}


def test_job_timeline_json_default_matches_sqlites_own(store):
    # The port's default (what the DynamoDB store uses) builds the columns from
    # job_timeline; SQLite writes them in its query. Same bars, same numbers.
    fn = _function(store)
    t0 = 1_700_000_000.0
    _jobs(store, fn, [("success", t0 + 0.25, t0 + 1.5), ("failure", t0, t0 + 2.0004),
                      ("running", t0 + 3.0, None), ("pending", None, None),
                      ("timeout", t0 + 1.0, t0 + 61.0), ("canceled", t0 + 0.5, t0 + 0.75),
                      ("canceling", t0 + 4.1236, None)])
    own = _parsed(store.job_timeline_json(fn["id"], 100, JOB_STATUSES))
    default = _parsed(Store.job_timeline_json(store, fn["id"], 100, JOB_STATUSES))
    assert default == own
    assert default["count"] == 6  # the pending job has not started
    assert default["t0"] == t0
    assert default["start"][0] == 0 and sorted(default["start"]) == default["start"]
    assert default["end"].count(-1) == 2  # the two active jobs
    assert [JOB_STATUSES[c] for c in default["status"]][0] == "failure"
    # Without ids (what the monitor's page asks for): the same columns, no ids.
    bare = _parsed(store.job_timeline_json(fn["id"], 100, JOB_STATUSES, ids=False))
    assert bare == _parsed(Store.job_timeline_json(store, fn["id"], 100, JOB_STATUSES,
                                                   ids=False))
    assert bare == {k: v for k, v in own.items() if k != "ids"}


def test_job_timeline_json_default_limits_and_empty(store):
    fn = _function(store)
    assert (_parsed(Store.job_timeline_json(store, fn["id"], 10, JOB_STATUSES))
            == _parsed(store.job_timeline_json(fn["id"], 10, JOB_STATUSES))
            == {"count": 0, "t0": None, "ids": [], "status": [], "start": [], "end": []})
    t0 = 1_700_000_000.0
    _jobs(store, fn, [("success", t0 + i, t0 + i + 0.5) for i in range(5)])
    default = _parsed(Store.job_timeline_json(store, fn["id"], 3, JOB_STATUSES))
    assert default == _parsed(store.job_timeline_json(fn["id"], 3, JOB_STATUSES))
    assert default["count"] == 3 and default["start"] == [0, 1000, 2000]
