"""Where things are stored: the ids of the blobs skyrun writes for a Function and its
jobs, the same on every backend (API 11.1). Search by these prefixes finds them."""

from __future__ import annotations


def result_blob_id(namespace: str, function_id: str, job_id: str) -> str:
    """A job's result: ``compute/{ns}/{fid}/{jid}``."""
    return f"compute/{namespace}/{function_id}/{job_id}"


def build_log_blob_id(namespace: str, function_id: str) -> str:
    """A Function's gzip build log: ``logs/{ns}/{fid}``."""
    return f"logs/{namespace}/{function_id}"


def log_blob_id(namespace: str, function_id: str, job_id: str) -> str:
    """A job's log: ``logs/{ns}/{fid}/{jid}``."""
    return f"logs/{namespace}/{function_id}/{job_id}"


def bundle_key(function_id: str) -> str:
    """A Function's bundle (entrypoint, modules, data, requirements): ``bundles/{fid}.zip``."""
    return f"bundles/{function_id}.zip"
