"""Where things are stored: the ids of the blobs skyrun writes for a Function and its
jobs, the same on every backend (API 11.1). Search by these prefixes finds them."""

from __future__ import annotations

from typing import Any


def result_blob_id(namespace: str, function_id: str, job_id: str) -> str:
    """A job's result: ``compute/{ns}/{fid}/{jid}``."""
    return f"compute/{namespace}/{function_id}/{job_id}"


def build_log_blob_id(namespace: str, function_id: str) -> str:
    """A Function's gzip build log: ``logs/{ns}/{fid}``."""
    return f"logs/{namespace}/{function_id}"


def log_blob_id(namespace: str, function_id: str, job_id: str) -> str:
    """A job's log: ``logs/{ns}/{fid}/{jid}``."""
    return f"logs/{namespace}/{function_id}/{job_id}"


def attempt_mark(job: dict[str, Any]) -> str:
    """What marks the data one attempt of a job stages for its settle: the claim's
    ``execution_count`` and instant (``last_execution_date``, in microseconds), which
    no other claim of the job shares (a rerun counts attempts from 1 again, at a later
    instant). Digits and one ``-``."""
    instant = job.get("last_execution_date")
    micros = round(float(instant) * 1_000_000) if instant is not None else 0
    return f"{int(job.get('execution_count') or 0)}-{micros}"


def bundle_key(function_id: str) -> str:
    """A Function's bundle (entrypoint, modules, data, requirements): ``bundles/{fid}.zip``."""
    return f"bundles/{function_id}.zip"
