"""The worker loop: claim a job of one Function, run it in the executor, settle it.

Run as ``python -m skyrun_runtime.worker --function ID [--home PATH]``; the function id
defaults to ``SKYRUN_FUNCTION_ID`` (how an AWS Batch job definition passes it). It leaves
when the Function has had no runnable job for ``SKYRUN_WORKER_IDLE_SECONDS`` (default 60),
or is stopped or deleted. Where the launcher tracks workers by heartbeat (AWS), a thread
renews the worker's registration every few seconds while it lives.

Given ``--executor-python`` and ``--executor-cpus`` (the embedded backend's launcher
passes them), or ``$SKYRUN_EXECUTOR_CPUS`` (the AWS launcher passes it to Batch workers),
the worker process starts its executor first, before the imports below and its first
claim (``skyrun_runtime.supervisor.prestart``): on a cold start the executor's
interpreter starts while the worker's does, instead of after it.
"""

from __future__ import annotations

import sys

if __name__ == "__main__":
    from skyrun_runtime.supervisor import prestart

    _prestarted = prestart(sys.argv[1:])

import argparse
import io
import os
import socket
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from skyrun.backends.ports import Backend
from skyrun.common.timeutil import now
from skyrun.domain import transitions
from skyrun.domain.keys import bundle_key
from skyrun.domain.limits import NAMESPACE_ACTIVE_LIMIT
from skyrun.domain.statuses import FunctionStatus, JobStatus
from skyrun.engine import lifecycle
from skyrun.engine.workerslots import Renewer, WorkerSlots
from skyrun_runtime.stats import Sampler
from skyrun_runtime.supervisor import ExecutorProcess, bundle_path, executor_env

# How often a running job is looked at: kills must land within 2 s of their reason.
WATCH_STEP = 0.05
CANCEL_CHECK = 0.5
MEMORY_CHECK = 0.2
LOG_FLUSH = 0.5


def batch_worker_id(environ=os.environ) -> str | None:
    """The worker id of an AWS Batch job: its job id, ``{array job id}:{index}`` for an
    array child; None outside Batch."""
    job = environ.get("AWS_BATCH_JOB_ID")
    if not job:
        return None
    index = environ.get("AWS_BATCH_JOB_ARRAY_INDEX")
    if index is not None and not job.endswith(f":{index}"):
        return f"{job}:{index}"
    return job


class _Heartbeat:
    """Calls the launcher's ``heartbeat(worker_id, function_id)`` now and then every
    ``interval`` seconds from a thread, until stopped."""

    def __init__(self, beat, worker_id: str, function_id: str, interval: float):
        self.beat, self.args, self.interval = beat, (worker_id, function_id), interval
        self.stopped = threading.Event()
        self.beat(*self.args)  # registered before the first claim
        self.thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                self.beat(*self.args)
            except Exception:  # a missed beat is retried; the lease outlasts a few
                traceback.print_exc()

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(self.interval + 5)


class Worker:
    """Runs the jobs of one Function until there are none for a while."""

    def __init__(self, backend: Backend, function_id: str, worker_id: str | None = None,
                 idle_seconds: float | None = None,
                 may_claim: Callable[[dict], bool] | None = None,
                 executor: ExecutorProcess | None = None):
        self.backend = backend
        # Asked before each claim with the Function's record; False makes the worker leave
        # (a Lambda invocation whose remaining time is too short for another job).
        self.may_claim = may_claim
        self.store = backend.store
        self.function_id = function_id
        self.worker_id = (worker_id or batch_worker_id()
                          or f"{socket.gethostname()}-{os.getpid()}")
        self.idle_seconds = float(idle_seconds if idle_seconds is not None else
                                  os.environ.get("SKYRUN_WORKER_IDLE_SECONDS", 60))
        #: The executor: one started ahead of the first job (``prestart``), if given.
        self.executor: ExecutorProcess | None = executor
        self.bundle_dir: str | None = None
        #: The next job and the Function's record, when a settle claimed it.
        self.next_job: dict | None = None
        self.function: dict | None = None
        self.log_written = True
        #: The limits: a Function slot and a namespace slot, taken once, renewed from a
        #: thread, given back when leaving (skyrun.domain.slots).
        self.slots = WorkerSlots(self.store, self.worker_id)

    # -- setup --------------------------------------------------------------------------
    def _prepare_bundle(self, function: dict) -> str:
        target = Path(bundle_path(function["id"]))
        if not (target / "__skyrun_entrypoint__.json").exists():
            data = self.backend.blobs.get_object(bundle_key(function["id"]))
            if data is None:
                raise RuntimeError(f"the bundle of Function {function['id']} is missing")
            import zipfile

            tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                zf.extractall(tmp)
            try:
                os.replace(tmp, target)
            except OSError:  # another worker got there first
                import shutil

                shutil.rmtree(tmp, ignore_errors=True)
        return str(target)

    def _executor(self, function: dict) -> ExecutorProcess:
        executor = self.executor
        if executor is not None and executor.used and executor.alive():
            return executor
        if self.bundle_dir is None:
            self.bundle_dir = self._prepare_bundle(function)
        python = self.backend.builder.executable(function)
        spec = (python, self.bundle_dir, float(function["cpus"]), executor_env())
        if executor is not None:
            # One started ahead of the first job serves it if it was started for what
            # the Function needs now (its interpreter, bundle, cpus and environment);
            # else it is replaced (it ran no code of the user's).
            if not executor.used and executor.spec == spec and executor.alive():
                return executor
            if executor.alive():
                executor.kill()
            else:
                executor.close()
        self.executor = ExecutorProcess(*spec)
        return self.executor

    def _job_env(self, function: dict, job: dict) -> dict[str, str]:
        env = dict(function.get("environment") or {})
        env.update(job.get("environment") or {})
        org, _, user = function["namespace"].partition(":")
        env.update(self.backend.job_environment())
        env.update(SKYRUN_ORG=org, SKYRUN_USER=user, SKYRUN_FUNCTION_ID=function["id"],
                   SKYRUN_JOB_ID=job["id"])
        return env

    # -- the loop -----------------------------------------------------------------------
    def run(self) -> None:
        """Claim and run jobs until idle, stopped or deleted."""
        last_work = time.monotonic()
        # How often to poll, look at the Function and read it again: the backend's pace
        # (skyrun.backends.ports.WorkerPace).
        pace = self.backend.pace
        poll_min, poll_max = pace.poll_seconds
        check, refresh = pace.check_seconds, pace.refresh_seconds
        launcher = self.backend.launcher
        poll = poll_min
        function = self.store.get_function(self.function_id)
        checked = time.monotonic()
        heartbeat = renewer = None
        # The store's housekeeping (SQLite's checkpoints) stays off the job loop's commits.
        resume = self.store.defer_checkpoints() if function is not None else None
        try:
            if launcher.heartbeat_seconds is not None and function is not None:
                heartbeat = _Heartbeat(launcher.heartbeat, self.worker_id, self.function_id,
                                       launcher.heartbeat_seconds)
            renewer = Renewer(self.slots)
            while function is not None:
                # The settle of the last job may have claimed this one in the same write.
                job, fresh = self.next_job, self.function
                self.next_job = self.function = None
                if job is None:
                    fresh = None
                    if self.may_claim is not None and not self.may_claim(function):
                        break
                    if function["status"] == FunctionStatus.READY.value:
                        held = self.slots.for_claim(function)
                        if held is not None:
                            job = self.store.claim(self.function_id, self.worker_id,
                                                   lifecycle.lease_seconds(),
                                                   NAMESPACE_ACTIVE_LIMIT, now(), held)
                            if job is None:
                                self.slots.nothing_claimed(self.function_id)
                if job is not None:
                    # The claim checked that the Function is ready; its other settings
                    # come with a combined settle and claim, or are read again at most
                    # every `refresh` seconds.
                    if fresh is not None:
                        function = fresh
                        checked = time.monotonic()
                    elif time.monotonic() - checked >= refresh:
                        function = self.store.get_function(self.function_id) or function
                        checked = time.monotonic()
                    try:
                        self.run_job(function, job)
                    except Exception:
                        # A fault of ours, not of the job: log it and leave the claim to
                        # expire, so the job is requeued as a lost one.
                        traceback.print_exc()
                        sys.stdout.flush()
                    last_work = time.monotonic()
                    poll = poll_min
                    continue
                if time.monotonic() - last_work > self.idle_seconds:
                    break
                time.sleep(poll)
                poll = min(poll * 2, poll_max)
                if time.monotonic() - checked > check:
                    function = self.store.get_function(self.function_id)
                    checked = time.monotonic()
                    if function is not None:
                        lifecycle.reap_lost(self.backend, self.function_id)
                    # A one-node launcher asks an idle worker to free its share of the
                    # machine for a Function that waits for one.
                    if launcher.should_leave(self.worker_id, self.function_id,
                                             time.monotonic() - last_work):
                        break
        finally:
            if renewer is not None:
                renewer.stop()
            self.slots.release()
            if resume is not None:
                resume()
            if heartbeat is not None:
                heartbeat.stop()
            if self.executor is not None:
                self.executor.stop()
            launcher.unregister(self.worker_id)

    def run_job(self, function: dict, job: dict) -> None:
        """Run one claimed attempt and settle it."""
        claimed = time.time()
        cold = self.executor is None or not self.executor.used or not self.executor.alive()
        try:
            executor = self._executor(function)
        except Exception as exc:  # the environment is broken: a failed attempt
            lifecycle.settle_failure(self.backend, job, self.worker_id,
                                     f"The job's environment could not start: {exc}", 1, None,
                                     None, int(function["retry_count"]))
            return
        ns, fid, jid = function["namespace"], function["id"], job["id"]
        # The inputs as the store decoded them (JSON values): the executor takes them
        # as they are, or as JSON text.
        executor.send({"job_id": jid, "args": job.get("args"), "kwargs": job.get("kwargs"),
                       "environment": self._job_env(function, job)})
        timeout = int(function["timeout"])
        limit_bytes = int(function["memory"]) * 2**20
        sampler = Sampler(executor.rss)
        start = time.monotonic()
        next_cancel = start + CANCEL_CHECK
        next_memory = start + MEMORY_CHECK
        lease = lifecycle.lease_seconds()
        next_renew = start + lease / 4
        next_flush = start + LOG_FLUSH
        outcome, reply = None, None
        wrote = False
        log_error = None
        while True:
            outcome, reply = executor.wait_reply(WATCH_STEP)
            if outcome is not None:  # "reply", or "crashed" if its pipe ended
                break
            if not executor.alive():
                outcome = "crashed"
                break
            t = time.monotonic()
            if t - start > timeout:
                outcome = "timeout"
                break
            if t >= next_memory:
                next_memory = t + MEMORY_CHECK
                if sampler.sample() > limit_bytes:
                    outcome = "memory"
                    break
            if t >= next_cancel:
                next_cancel = t + CANCEL_CHECK
                current = self.store.get_job(jid)
                if current is None or current["status"] in (JobStatus.CANCEL.value,
                                                            JobStatus.CANCELING.value):
                    outcome = "cancel"
                    break
            if t >= next_renew:
                next_renew = t + lease / 4
                if not self.store.renew(jid, self.worker_id, time.time() + lease):
                    outcome = "lost_claim"
                    break
            if t >= next_flush:
                next_flush = t + LOG_FLUSH
                flushed = executor.take_lines()
                wrote = wrote or bool(flushed)
                log_error = self._append_log(ns, fid, jid, flushed, log_error)
        runtime = time.monotonic() - start
        if outcome == "reply":
            executor.wait_end_mark()
            if reply.get("rss"):
                sampler.add(reply["rss"])
        else:
            if outcome == "cancel":
                # The settle below starts from the record this leaves, sparing a read.
                job = lifecycle.begin_canceling(self.backend, current or job,
                                                self.worker_id) or job
            executor.kill()
            self.executor = None
        lines = executor.take_lines()
        if outcome == "memory":
            lines.append((time.time(), f"skyrun: the job used more than its memory limit of "
                                       f"{function['memory']} MB and was killed"))
        elif outcome == "timeout":
            lines.append((time.time(), f"skyrun: the job ran past its timeout of {timeout} "
                                       "seconds and was killed"))
        log_error = self._append_log(ns, fid, jid, lines, log_error)
        # Whether this run's log may hold lines: ours, or an earlier attempt's.
        self.log_written = wrote or bool(lines) or int(job.get("execution_count") or 0) > 1
        if log_error is not None and outcome == "reply" and reply.get("outcome") == "success":
            # A job whose log could not be kept did not fully succeed (a full disk is
            # the usual cause): it fails with the reason, and may be retried.
            reply = dict(reply, outcome="failure", exit_code=1,
                         error_reason=f"The job's log could not be written: {log_error}")
        cpu_seconds = reply.get("cpu_seconds", 0.0) if reply else 0.0
        stats = sampler.statistics(cpu_seconds, runtime, float(function["cpus"]), limit_bytes)
        self._settle(function, job, outcome, reply, runtime, stats, claimed, cold)

    def _append_log(self, ns, fid, jid, lines, error):
        # A log write that fails (disk full) must not take the worker down: the first
        # error is kept for the job's outcome, and later lines are still attempted.
        try:
            self.backend.logs.append(ns, fid, jid, lines)
        except OSError as exc:
            return error or exc
        return error

    def _settle(self, function, job, outcome, reply, runtime, stats, claimed, cold) -> None:
        fields = {"statistics": stats, "runtime": int(round(runtime))}
        result = None
        if outcome == "reply":
            fields.update(pull_time=int(round(reply.get("pull_time", 0))),
                          provisioning_time=int(round(max(0.0, reply["started"] - claimed)))
                          if cold else 0)
            if reply["outcome"] == "success":
                ended = transitions.RETURNED
                fields.update(exit_code=0, error_reason=None)
                result = (reply.get("data"), reply.get("attrs") or {})
            else:
                ended = transitions.FAILED
                fields.update(error_reason=reply["error_reason"], exit_code=reply["exit_code"])
        elif outcome == "timeout":
            ended = transitions.TIMED_OUT
            fields.update(exit_code=137, error_reason=(
                f"Job timed out: it ran longer than its timeout of {function['timeout']} "
                f"seconds and was killed"))
        elif outcome == "cancel":
            ended = transitions.KILLED
            fields.update(exit_code=137, error_reason="Job was canceled while running")
        elif outcome == "memory":
            ended = transitions.FAILED
            fields.update(exit_code=137, error_reason=(
                f"Memory limit exceeded: the job used more than its memory limit of "
                f"{function['memory']} MB and was killed"))
        elif outcome == "crashed":
            ended = transitions.FAILED
            fields.update(exit_code=137, error_reason=(
                "The job's process died unexpectedly (it may have been killed by a signal)"))
        else:  # lost_claim: someone else settled it while we were not looking
            return
        _, self.next_job, fresh = lifecycle.finish_attempt(
            self.backend, function, job, self.worker_id, ended, fields, result,
            claim_next=self._wants_next_claim(function), log_written=self.log_written,
            held=self.slots.held)
        if fresh is not None:
            self.function = fresh

    def _wants_next_claim(self, function: dict) -> bool:
        """Whether to claim the next job in the same write that settles this one (a job
        claimed is sent to the executor at once)."""
        # A worker with a time budget (a Lambda invocation) asks it before this claim too.
        return (function.get("status") == FunctionStatus.READY.value
                and (self.may_claim is None or self.may_claim(function)))


def main(argv: list[str] | None = None, executor: ExecutorProcess | None = None) -> int:
    """Command line entry point; ``executor``: one started for this worker already."""
    parser = argparse.ArgumentParser(prog="python -m skyrun_runtime.worker")
    parser.add_argument("--function", default=os.environ.get("SKYRUN_FUNCTION_ID"),
                        help="the Function whose jobs to run (default $SKYRUN_FUNCTION_ID)")
    parser.add_argument("--home", help="SKYRUN_HOME of the local backend")
    parser.add_argument("--worker-id", help="the worker's id (default host-pid)")
    parser.add_argument("--executor-python", help="the interpreter of the Function's "
                        "environment: the executor is started with it as this process "
                        "starts, before the first job (see skyrun_runtime.supervisor)")
    parser.add_argument("--executor-cpus", help="the Function's cpus, for that executor")
    args = parser.parse_args(argv)
    if not args.function:
        parser.error("--function is required (or set SKYRUN_FUNCTION_ID)")
    if args.home:
        os.environ["SKYRUN_HOME"] = args.home
        os.environ.setdefault("SKYRUN_WORK_DIR", str(Path(args.home) / "work"))
    from skyrun import config
    from skyrun.client import open_backend

    backend = open_backend(config.backend_name())
    Worker(backend, args.function, worker_id=args.worker_id, executor=executor).run()
    return 0


if __name__ == "__main__":
    sys.exit(main(executor=_prestarted))
