"""The stored form of job logs, shared by every backend.

A job's log is a sequence of records ``(epoch seconds, text)``. Stored, each record is one
line of JSON, ``{"date": "<ISO-8601 UTC ending in Z>", "log": "<text>"}``, and the log
blob ``logs/{namespace}/{function_id}/{job_id}`` holds those lines (API 11.1).
"""

from __future__ import annotations

import json

from skyrun.common.namespaces import default_owners
from skyrun.common.timeutil import iso_utc, to_epoch
from skyrun.domain.keys import log_blob_id


def log_blob_record(namespace: str, function_id: str, job_id: str) -> dict:
    """The metadata of a job's log blob (size, hash and href are the store's)."""
    return {
        "id": log_blob_id(namespace, function_id, job_id),
        "namespace": namespace,
        "name": f"{function_id}/{job_id}",
        "storage_type": "logs",
        "storage_state": "available",
        "owners": default_owners(namespace),
    }


def format_record(t: float, text: str) -> str:
    """One record as its JSON line, without the newline."""
    return json.dumps({"date": iso_utc(t), "log": text})


def format_records(lines: list[tuple[float, str]]) -> bytes:
    """Records as newline-terminated JSON lines."""
    return "".join(format_record(t, text) + "\n" for t, text in lines).encode()


def parse_record(line: str) -> tuple[float, str]:
    """``(epoch seconds, text)`` of one JSON line."""
    record = json.loads(line)
    return to_epoch(record["date"]), record["log"]


def parse_records(data: bytes | str):
    """The records of complete lines in ``data``; a last line without its newline (being
    written right now) is left out."""
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    for line in text.splitlines(keepends=True):
        if not line.endswith("\n"):
            break
        yield parse_record(line)
