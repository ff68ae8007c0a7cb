"""Cancel, rerun and delete (section 8.4; scenarios 12, 26, 27, 28) on real workers."""

from __future__ import annotations

import os
import time
from pathlib import Path

import psutil
import pytest

from skyrun.compute import ComputeClient, Function, Job, JobStatus
from skyrun.domain.keys import build_log_blob_id, result_blob_id
from skyrun.exceptions import ConflictError, NotFoundError
from tests.conftest import wait_until
from tests.support import stored_data_exists

DEADLINE = 90


def blob_exists(blob_id: str) -> bool:
    """Whether a blob is stored (through the backend's BlobStore port)."""
    return ComputeClient.get_default_client().backend.blobs.get_record(blob_id) is not None


def log_id(job) -> str:
    return f"logs/{job.function.namespace}/{job.function_id}/{job.id}"


def work(mode, folder):
    """``ok`` returns, ``fail`` raises, ``sleep`` outlives the timeout, ``gate`` waits for
    ``folder/release`` and then writes ``folder/done``. Once ``folder/rerun`` exists every
    mode returns at once (the jobs' second run)."""
    print(f"run {mode}")
    if os.path.exists(os.path.join(folder, "rerun")):
        return f"rerun {mode}"
    if mode == "fail":
        raise ValueError("boom")
    if mode == "sleep":
        time.sleep(60)
    if mode == "gate":
        Path(folder, "started").write_text(str(os.getpid()))
        end = time.monotonic() + 60
        while not os.path.exists(os.path.join(folder, "release")):
            if time.monotonic() > end:
                raise TimeoutError("never released")
            time.sleep(0.02)
        Path(folder, "done").write_text("side effect")
    return mode


def refreshed(job):
    job.refresh()
    return job


def test_cancel_pending_job_is_immediate():
    fn = Function(work, auto_start=False)
    job = fn("ok", "/nonexistent")
    job.cancel()
    assert job.status == JobStatus.CANCELED and job.last_completion_date is not None
    assert Job.get(job.id).status == JobStatus.CANCELED
    job.cancel()  # terminal jobs are unchanged
    assert job.status == JobStatus.CANCELED
    with pytest.raises(ValueError, match="Cannot cancel a Job that has not been saved"):
        Job(function_id=fn.id).cancel()


def test_cancel_running_job_kills_it_before_its_side_effect(tmp_path):
    fn = Function(work, timeout=120)
    job = fn("gate", str(tmp_path))
    started = tmp_path / "started"
    # The file appears before its pid is written in it.
    pid = int(wait_until(lambda: started.exists() and started.read_text().strip(),
                         timeout=DEADLINE, message="the job to start"))
    job.cancel()
    assert job.status == JobStatus.CANCEL
    seen = {JobStatus.CANCEL}
    wait_until(lambda: seen.add(refreshed(job).status) or job.status == JobStatus.CANCELED,
               timeout=DEADLINE, interval=0.01, message="the job to be canceled")
    assert seen <= {JobStatus.CANCEL, JobStatus.CANCELING, JobStatus.CANCELED}
    # The process is gone once the job is canceled, so its side effect can never happen.
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    (tmp_path / "release").touch()
    assert not (tmp_path / "done").exists()
    assert job.exit_code == 137 and job.execution_count == 1
    # Canceled jobs are not retried.
    assert Job.get(job.id).status == JobStatus.CANCELED


def test_cancel_jobs_returns_the_affected_jobs(tmp_path):
    fn = Function(work, maximum_concurrency=1)
    running = fn("gate", str(tmp_path))
    wait_until((tmp_path / "started").exists, timeout=DEADLINE, message="the job to start")
    queued = fn("ok", str(tmp_path))
    other = Function(work, auto_start=False)
    foreign = other("ok", str(tmp_path))
    fn.stop()  # so that the queued job stays pending until canceled
    done = fn.cancel_jobs()
    assert {j.id: j.status for j in done} == {running.id: JobStatus.CANCEL,
                                              queued.id: JobStatus.CANCELED}
    assert refreshed(foreign).status == JobStatus.PENDING  # another Function's job
    wait_until(lambda: refreshed(running).status == JobStatus.CANCELED, timeout=DEADLINE)
    assert fn.cancel_jobs() == []  # nothing left that is not terminal
    assert other.cancel_jobs(job_ids=[foreign.id, queued.id])[0].id == foreign.id


def test_scenario_27_rerun(tmp_path):
    # The timeout ends the "sleep" job; it also bounds the gated job, whose cancel must
    # land before it: 5 s leaves a loaded machine time for that.
    fn = Function(work, timeout=5, maximum_concurrency=4)
    fn.save()
    ok = fn("ok", str(tmp_path))
    fail = fn("fail", str(tmp_path))
    slow = fn("sleep", str(tmp_path))
    gated = fn("gate", str(tmp_path))
    wait_until((tmp_path / "started").exists, timeout=DEADLINE, message="the gated job")
    gated.cancel()
    fn.wait_for_completion(timeout=DEADLINE, interval=0.1)
    assert [refreshed(j).status for j in (ok, fail, slow, gated)] == [
        JobStatus.SUCCESS, JobStatus.FAILURE, JobStatus.TIMEOUT, JobStatus.CANCELED]
    ok_before = Job.get(ok.id).to_dict()
    (tmp_path / "rerun").touch()
    again = fn.rerun()
    assert {j.id for j in again} == {fail.id, slow.id, gated.id}
    for job in again:
        assert job.status == JobStatus.PENDING and job.execution_count == 0
        assert job.error_reason is None and job.exit_code is None and job.runtime is None
    fn.wait_for_completion(timeout=DEADLINE, interval=0.1)
    for job in (fail, slow, gated):
        job.refresh()
        assert job.status == JobStatus.SUCCESS and job.execution_count == 1
        assert job.result().startswith("rerun")
        assert job.log(timestamps=False).count("run ") == 2  # the log keeps both runs
    assert Job.get(ok.id).to_dict() == ok_before  # success is never rerun


def test_rerun_only_the_given_ids():
    fn = Function(work)
    a, b = fn("fail", "/nonexistent"), fn("fail", "/nonexistent")
    fn.wait_for_completion(timeout=DEADLINE, interval=0.1)
    assert [refreshed(a).status, refreshed(b).status] == [JobStatus.FAILURE] * 2
    fn.stop()
    assert [j.id for j in fn.rerun(job_ids=[a.id])] == [a.id]
    assert refreshed(a).status == JobStatus.PENDING
    assert refreshed(b).status == JobStatus.FAILURE and b.execution_count == 1
    query = Job.search().filter(Job.status == JobStatus.FAILURE)
    assert [j.id for j in fn.rerun(query=query)] == [b.id]
    assert fn.rerun() == []


def test_job_delete(tmp_path):
    fn = Function(work)
    done = fn("ok", str(tmp_path))
    done.wait_for_completion(timeout=DEADLINE, interval=0.1)
    result, log = result_blob_id(fn.namespace, fn.id, done.id), log_id(done)
    assert blob_exists(result) and blob_exists(log)
    done_id = done.id
    done.delete()
    assert done.state == "deleted"
    with pytest.raises(NotFoundError):
        Job.get(done_id)
    assert not blob_exists(log) and blob_exists(result)  # results stay unless asked
    second = fn("ok", str(tmp_path))
    second.wait_for_completion(timeout=DEADLINE, interval=0.1)
    second_result = result_blob_id(fn.namespace, fn.id, second.id)
    assert blob_exists(second_result)
    second.delete(delete_result=True)
    assert not blob_exists(second_result)
    running = fn("gate", str(tmp_path))
    wait_until((tmp_path / "started").exists, timeout=DEADLINE, message="the job to start")
    with pytest.raises(ConflictError):
        running.delete()
    assert running.state == "saved" and refreshed(running).status == JobStatus.RUNNING
    (tmp_path / "release").touch()
    running.wait_for_completion(timeout=DEADLINE, interval=0.1)
    with pytest.raises(ValueError, match="Cannot delete a Job that has not been saved"):
        Job(function_id=fn.id).delete()


def test_scenario_28_delete_jobs_skips_active(tmp_path):
    fn = Function(work, maximum_concurrency=3)
    finished = [fn("ok", str(tmp_path)), fn("fail", str(tmp_path))]
    for job in finished:
        job.wait_for_completion(timeout=DEADLINE, interval=0.1)
    running = fn("gate", str(tmp_path))
    wait_until((tmp_path / "started").exists, timeout=DEADLINE, message="the job to start")
    kept = Function(work, auto_start=False)
    foreign = kept("ok", str(tmp_path))
    result = result_blob_id(fn.namespace, fn.id, finished[0].id)
    client = ComputeClient.get_default_client()
    href = client.backend.blobs.get_record(result)["href"]
    assert stored_data_exists(client, href)
    deleted = fn.delete_jobs(delete_results=True)
    assert sorted(deleted) == sorted(j.id for j in finished)
    assert not blob_exists(result)
    assert not stored_data_exists(client, href)  # the data, wherever its record put it
    assert not any(blob_exists(log_id_of(fn, j)) for j in finished)
    assert refreshed(running).status == JobStatus.RUNNING
    assert refreshed(foreign).status == JobStatus.PENDING
    (tmp_path / "release").touch()
    running.wait_for_completion(timeout=DEADLINE, interval=0.1)
    assert blob_exists(result_blob_id(fn.namespace, fn.id, running.id))
    assert fn.delete_jobs(job_ids=[running.id, foreign.id]) == [running.id]
    assert blob_exists(result_blob_id(fn.namespace, fn.id, running.id))  # kept by default
    assert refreshed(foreign).status == JobStatus.PENDING
    assert Job.search().filter(Job.function_id == kept.id).delete() == [foreign.id]


def log_id_of(fn, job) -> str:
    return f"logs/{fn.namespace}/{fn.id}/{job.id}"


def test_scenario_12_delete_function(tmp_path):
    fn = Function(work, maximum_concurrency=2)
    jobs = [fn("ok", str(tmp_path)), fn("fail", str(tmp_path))]
    fn.wait_for_completion(timeout=DEADLINE, interval=0.1)
    ns, fid = fn.namespace, fn.id
    assert blob_exists(build_log_blob_id(ns, fid))
    running = fn("gate", str(tmp_path))
    wait_until((tmp_path / "started").exists, timeout=DEADLINE, message="the job to start")
    with pytest.raises(ConflictError):
        fn.delete()
    assert fn.state == "saved" and Function.get(fid).jobs.count() == 3
    assert Function.get(fid).status == "ready"
    (tmp_path / "release").touch()
    running.wait_for_completion(timeout=DEADLINE, interval=0.1)
    fn.name = "unsaved change"  # a modified Function may be deleted
    fn.delete()
    assert fn.state == "deleted"
    with pytest.raises(AttributeError, match="Function has been deleted"):
        _ = fn.id
    with pytest.raises(NotFoundError):
        Function.get(fid)
    for job in (*jobs, running):
        with pytest.raises(NotFoundError):
            Job.get(job.id)
        assert not blob_exists(log_id_of_ids(ns, fid, job.id))
    assert not blob_exists(build_log_blob_id(ns, fid))
    assert blob_exists(result_blob_id(ns, fid, jobs[0].id))  # results outlive the Function
    assert Job.search().filter(Job.function_id == fid).count() == 0
    with pytest.raises(ValueError, match="Cannot delete a Function that has not been saved"):
        Function(work).delete()


def log_id_of_ids(ns, fid, jid) -> str:
    return f"logs/{ns}/{fid}/{jid}"


def test_delete_function_with_results():
    fn = Function(work)
    job = fn("ok", "/nonexistent")
    job.wait_for_completion(timeout=DEADLINE, interval=0.1)
    ns, fid = fn.namespace, fn.id
    fn.delete(delete_results=True)
    assert not blob_exists(result_blob_id(ns, fid, job.id))
