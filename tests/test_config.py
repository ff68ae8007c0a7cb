"""Settings read from the environment (skyrun.config): the claim lease."""

from __future__ import annotations

import time

import pytest

from skyrun import config
from skyrun.compute import Function, Job, JobStatus
from skyrun.engine import lifecycle, workerslots
from skyrun.exceptions import ValidationError
from tests.conftest import LEASE_SECONDS, wait_until


def test_the_lease_defaults_to_ten_seconds_and_reads_the_variable(monkeypatch):
    monkeypatch.delenv("SKYRUN_LEASE_SECONDS", raising=False)
    assert config.lease_seconds() == lifecycle.lease_seconds() == 10.0
    assert lifecycle.claim_grace_seconds() == 5.0
    monkeypatch.setenv("SKYRUN_LEASE_SECONDS", " 2.5 ")
    assert lifecycle.lease_seconds() == workerslots.slot_lease_seconds() == 2.5
    assert lifecycle.claim_grace_seconds() == 1.25


@pytest.mark.parametrize("value", ["0.5", "0", "-3", "3601", "ten", "nan", "inf"])
def test_a_bad_lease_is_refused_with_the_variable_the_value_and_the_range(monkeypatch, value):
    monkeypatch.setenv("SKYRUN_LEASE_SECONDS", value)
    with pytest.raises(ValidationError) as raised:
        config.lease_seconds()
    message = str(raised.value)
    assert "SKYRUN_LEASE_SECONDS" in message and repr(value) in message
    assert "from 1 to 3600" in message


def sleeper(seconds):
    time.sleep(seconds)
    return seconds


def test_a_running_jobs_claim_lasts_the_configured_lease(namespace, short_leases):
    # With SKYRUN_LEASE_SECONDS=5 the worker claims and renews for 5 s, not the default
    # 10 (which the lost-worker tests would otherwise wait for).
    assert config.lease_seconds() == short_leases == float(LEASE_SECONDS)
    fn = Function(sleeper, retry_count=0)
    job = fn(3)
    store = namespace.backend.store
    record = wait_until(lambda: (r := store.get_job(job.id))["status"] == "running" and r,
                        timeout=30, message="job running")
    left = record["lease_expires"] - time.time()
    assert 0 < left <= float(LEASE_SECONDS), left
    job.wait_for_completion(timeout=30, interval=0.05)
    assert Job.get(job.id).status == JobStatus.SUCCESS
