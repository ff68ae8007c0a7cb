"""The file ``LogStore``: a job's live log is appended where its log blob's data lives."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from typing import Any

from skyrun.backends.local.blobs import FileBlobStore, disk_full
from skyrun.backends.ports import LogStore
from skyrun.common.joblog import format_records, log_blob_id, log_blob_record, parse_record

__all__ = ["FileLogStore", "log_blob_id"]


class FileLogStore(LogStore):
    """JSON-lines log files, one per job, sealed into log blobs when the job ends."""

    def __init__(self, blobs: FileBlobStore):
        self.blobs = blobs

    def append(self, namespace: str, function_id: str, job_id: str,
               lines: list[tuple[float, str]]) -> None:
        """Append ``(epoch, text)`` records."""
        if not lines:
            return
        path = self.blobs.path(log_blob_id(namespace, function_id, job_id))
        data = format_records(lines)
        try:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            except FileNotFoundError:
                path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                size = os.fstat(fd).st_size
                # One write per batch: O_APPEND keeps records whole.
                if os.write(fd, data) < len(data):
                    # A full disk took part of it: cut the partial record, so the file
                    # stays whole lines when the writes go on after space is freed.
                    os.ftruncate(fd, size)
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            finally:
                os.close(fd)
        except OSError as exc:
            raise disk_full(exc, path) from exc

    def read(self, namespace: str, function_id: str, job_id: str) -> Iterator[tuple[float, str]]:
        """The records so far."""
        path = self.blobs.path(log_blob_id(namespace, function_id, job_id))
        try:
            f = open(path, encoding="utf-8")
        except FileNotFoundError:
            return
        with f:
            for line in f:
                if not line.endswith("\n"):
                    break  # a record being written right now
                yield parse_record(line)

    def seal(self, namespace: str, function_id: str, job_id: str, written: bool = True) -> None:
        """Record the log blob's metadata (the data is already in place; reading its
        size costs no more than knowing nothing was written)."""
        self.blobs.seal_file(log_blob_record(namespace, function_id, job_id))

    def sealed_record(self, namespace: str, function_id: str, job_id: str, mark: str,
                      written: bool = True) -> dict[str, Any]:
        """The log blob's full record, for a transaction that seals it with its job's
        settle (see ``SQLiteStore.settle_and_claim``). ``mark`` and ``written`` are not
        needed here: the log file is read as it is, in place."""
        return self.blobs.sealed_record(log_blob_record(namespace, function_id, job_id))

    def delete(self, namespace: str, function_id: str, job_id: str) -> None:
        """Remove a job's log blob and file."""
        self.blobs.delete([log_blob_id(namespace, function_id, job_id)])
