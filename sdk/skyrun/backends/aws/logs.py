"""The CloudWatch Logs ``LogStore``: a stream per job, sealed into the job's log blob.

The live log of a job is the stream ``{function_id}/{job_id}`` in the deployment's job
log group. Each event's message is the record's JSON line (:mod:`skyrun.common.joblog`),
so reading it back gives the exact instant and text (an empty line included), and
sealing writes the same bytes the local backend's log blob holds.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from skyrun.backends.aws.errors import error_code, translate_errors, translated
from skyrun.backends.ports import LogStore, bounded_chunks
from skyrun.common.joblog import format_record, log_blob_id, log_blob_record, parse_records
from skyrun.exceptions import NotFoundError

if TYPE_CHECKING:
    from skyrun.backends.aws.blobs import S3BlobStore

#: PutLogEvents takes at most 10,000 events and 1,048,576 bytes, counting 26 bytes per
#: event; an event's message is at most 256 KB. We stay under each.
MAX_EVENTS = 10_000
MAX_BATCH_BYTES = 1_000_000
MAX_EVENT_BYTES = 250_000
EVENT_OVERHEAD = 26
#: Consecutive empty pages after which a read stops (the end token should come first).
EMPTY_PAGES = 3


def stream_name(function_id: str, job_id: str) -> str:
    """The log stream of a job."""
    return f"{function_id}/{job_id}"


def _events(lines: list[tuple[float, str]]) -> list[dict[str, Any]]:
    """Log events for records, in time order, long texts split so that each message fits
    an event."""
    events = []
    for t, text in sorted(lines, key=lambda line: line[0]):
        pending = [text]
        while pending:
            piece = pending.pop(0)
            message = format_record(t, piece)
            if len(message.encode()) > MAX_EVENT_BYTES and len(piece) > 1:
                half = len(piece) // 2
                pending[:0] = [piece[:half], piece[half:]]
                continue
            events.append({"timestamp": int(t * 1000), "message": message})
    return events


def _batches(events: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    return bounded_chunks(events, [len(e["message"].encode()) + EVENT_OVERHEAD for e in events],
                          MAX_EVENTS, MAX_BATCH_BYTES)


@translate_errors
class CloudWatchLogStore(LogStore):
    """Job logs in CloudWatch Logs, sealed into log blobs in the blob store."""

    def __init__(self, logs: Any, blobs: S3BlobStore, group: str) -> None:
        self.client = logs
        self.blobs = blobs
        self.group = group

    def append(self, namespace: str, function_id: str, job_id: str,
               lines: list[tuple[float, str]]) -> None:
        """Append ``(epoch, text)`` records; the stream is created on first use."""
        stream = stream_name(function_id, job_id)
        for batch in _batches(_events(lines)):
            try:
                self.client.put_log_events(logGroupName=self.group, logStreamName=stream,
                                           logEvents=batch)
            except ClientError as exc:
                if error_code(exc) != "ResourceNotFoundException":
                    raise
                self._create_stream(stream)
                self.client.put_log_events(logGroupName=self.group, logStreamName=stream,
                                           logEvents=batch)

    def _create_stream(self, stream: str) -> None:
        try:
            self.client.create_log_stream(logGroupName=self.group, logStreamName=stream)
        except ClientError as exc:
            if error_code(exc) != "ResourceAlreadyExistsException":
                raise

    def _stream_lines(self, function_id: str, job_id: str) -> Iterator[str] | None:
        """The messages of a job's stream, or None if it has none."""
        params = {"logGroupName": self.group,
                  "logStreamName": stream_name(function_id, job_id), "startFromHead": True}
        try:
            page = self.client.get_log_events(**params)
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return None
            raise

        @translated
        def messages() -> Iterator[str]:
            nonlocal page
            empty = 0
            while True:
                for event in page.get("events", []):
                    yield event["message"]
                empty = 0 if page.get("events") else empty + 1
                token = page.get("nextForwardToken")
                # The end of the stream repeats the token it was asked with.
                if not token or token == params.get("nextToken") or empty >= EMPTY_PAGES:
                    return
                params["nextToken"] = token
                page = self.client.get_log_events(**params)

        return messages()

    def read(self, namespace: str, function_id: str, job_id: str) -> Iterator[tuple[float, str]]:
        """The records so far: from the live stream, else from the sealed log blob."""
        messages = self._stream_lines(function_id, job_id)
        if messages is not None:
            for message in messages:
                yield from parse_records(message + "\n")
            return
        try:
            data = self.blobs.get_data(log_blob_id(namespace, function_id, job_id))
        except NotFoundError:
            return
        yield from parse_records(data)

    def seal(self, namespace: str, function_id: str, job_id: str, written: bool = True) -> None:
        """Write the stream so far to the job's log blob (an empty blob for a job that
        logged nothing, unless an earlier attempt's blob is there). ``written=False``
        spares reading the stream (GetLogEvents): nothing was written to it in this run."""
        record = log_blob_record(namespace, function_id, job_id)
        messages = self._stream_lines(function_id, job_id) if written else None
        if messages is None:
            self.blobs.create_empty(record)  # one write; an earlier blob is kept
            return
        data = "".join(m + "\n" for m in messages).encode()
        self.blobs.put(record, data, overwrite=True)

    def sealed_record(self, namespace: str, function_id: str, job_id: str, mark: str,
                      written: bool = True) -> dict[str, Any]:
        """The log blob's full record for a transaction that seals it with its job's
        settle (``DynamoStore.settle_and_claim``); the stream's lines, if any, are in S3
        before it returns, under a key of the attempt ``mark``. ``written`` as for
        :meth:`seal`."""
        record = log_blob_record(namespace, function_id, job_id)
        messages = self._stream_lines(function_id, job_id) if written else None
        if messages is None:
            return self.blobs.empty_record(record)  # an earlier blob is kept
        data = "".join(m + "\n" for m in messages).encode()
        return self.blobs.staged_record(record, data, mark)

    def delete(self, namespace: str, function_id: str, job_id: str) -> None:
        """Remove a job's stream and log blob."""
        try:
            self.client.delete_log_stream(logGroupName=self.group,
                                          logStreamName=stream_name(function_id, job_id))
        except ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
        self.blobs.delete([log_blob_id(namespace, function_id, job_id)])
