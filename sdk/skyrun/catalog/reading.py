"""Reading blob data: byte ranges, chunks, lines, and writing to files."""

from __future__ import annotations

import codecs
import io
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DEFAULT_CHUNK = 1 << 20  # 1 MiB
_INVALID = "invalid range value"
_BYTES = re.compile(r"bytes=(\d*)-(\d*)")


def parse_range(value) -> tuple[int | None, int | None] | None:
    """``(first, last)`` from a range argument, ``last`` inclusive or None (to the end);
    None for no range. Negative numbers count from the end.

    Accepted: ``"bytes=a-b"``, ``"bytes=a-"``, ``"bytes=-n"`` (the last n bytes),
    ``(a, b)``, ``(a,)``. Anything else raises ``ValueError("invalid range value")``.
    """
    if value is None:
        return None
    if isinstance(value, str):
        match = _BYTES.fullmatch(value.strip())
        if match is None or match.group(1) == match.group(2) == "":
            raise ValueError(_INVALID)
        first, last = match.group(1), match.group(2)
        if first == "":
            return -int(last), None  # a suffix: the last n bytes
        return _ordered(int(first), int(last) if last else None)
    if isinstance(value, (tuple, list)) and len(value) in (1, 2) and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        if len(value) == 1:
            return value[0], None
        return _ordered(value[0], value[1])
    raise ValueError(_INVALID)


def _ordered(first: int, last: int | None):
    # Only ranges on one side of zero can be checked before the size is known.
    if last is not None and (first >= 0) == (last >= 0) and last < first:
        raise ValueError(_INVALID)
    return first, last


def resolve(bounds, size: int) -> tuple[int, int | None]:
    """Absolute ``(start, end)`` (end inclusive, None to the end) for a blob of ``size``."""
    if bounds is None:
        return 0, None
    first, last = bounds
    start = first if first >= 0 else max(0, size + first)
    if last is None:
        return start, None
    end = last if last >= 0 else size + last
    if end < start:
        raise ValueError(_INVALID)
    return start, end


def read(blobs, blob_id: str, start: int, end: int | None) -> bytes:
    """The bytes ``start``..``end`` (inclusive; None to the end) of a blob."""
    if start == 0 and end is None:
        return blobs.get_data(blob_id)
    return blobs.get_data(blob_id, start, end)


def chunks(blobs, blob_id: str, start: int, end: int | None,
           chunk_size: int | None) -> Iterator[bytes]:
    """The bytes ``start``..``end`` in pieces of ``chunk_size``, read one at a time so a
    large blob never sits in memory whole."""
    size = DEFAULT_CHUNK if chunk_size is None else chunk_size
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        raise ValueError(f"chunk_size must be a positive int, not {chunk_size!r}")
    position = start
    while end is None or position <= end:
        last = position + size - 1 if end is None else min(end, position + size - 1)
        piece = blobs.get_data(blob_id, position, last)
        if piece:
            yield piece
        if len(piece) < last - position + 1:
            return
        position = last + 1


def lines(pieces: Iterator[bytes], decode_unicode: bool = False,
          delimiter: str | bytes | None = None) -> Iterator[bytes | str]:
    """Split streamed pieces into lines (without their terminators), bytes or str.

    Without ``delimiter`` the line boundaries of ``splitlines`` apply; a ``\\r\\n`` split
    across two pieces still ends one line. A trailing terminator adds no empty line.
    """
    decoder = codecs.getincrementaldecoder("utf-8")() if decode_unicode else None
    if delimiter is not None:
        if decode_unicode and isinstance(delimiter, bytes):
            delimiter = delimiter.decode()
        elif not decode_unicode and isinstance(delimiter, str):
            delimiter = delimiter.encode()
        if not delimiter:
            raise ValueError("delimiter must not be empty")
    # str or bytes by decode_unicode, the same type throughout (mypy cannot follow that).
    pending: Any = "" if decode_unicode else b""
    cr: Any = "\r" if decode_unicode else b"\r"
    for piece in pieces:
        text = decoder.decode(piece) if decoder is not None else piece
        if not text:
            continue
        pending += text
        if delimiter is not None:
            parts = pending.split(delimiter)
            pending = parts.pop()
            yield from parts
            continue
        parts = pending.splitlines(keepends=True)
        last = parts[-1]
        # The last part is unfinished unless it ends in a terminator; one ending in "\r"
        # may be the first half of "\r\n", so it waits for the next piece too.
        if _terminated(last) and not last.endswith(cr):
            pending = last[:0]
        else:
            pending = parts.pop()
        yield from (p.splitlines()[0] for p in parts)
    if decoder is not None:
        pending += decoder.decode(b"", final=True)
    if pending:
        yield from (pending.splitlines() if delimiter is None else [pending])


def _terminated(part) -> bool:
    return part.splitlines() != [part]


def write_to(target, pieces: Iterator[bytes]) -> str | None:
    """Write pieces to a path (atomically) or a writable binary file; the file name."""
    if isinstance(target, (str, os.PathLike)):
        path = Path(target)
        tmp = path.with_name(f".{path.name}.part-{os.getpid()}")
        try:
            with open(tmp, "wb") as f:
                for piece in pieces:
                    f.write(piece)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return str(target)
    if _writable_binary(target):
        for piece in pieces:
            target.write(piece)
        return getattr(target, "name", None)
    raise ValueError(f"Invalid file value {target!r}: must be a path or a binary file open "
                     "for writing")


def _writable_binary(target) -> bool:
    if isinstance(target, io.TextIOBase) or not callable(getattr(target, "write", None)):
        return False
    if getattr(target, "closed", False):
        return False
    writable = getattr(target, "writable", None)
    if callable(writable) and not writable():
        return False
    mode = getattr(target, "mode", None)
    return not (isinstance(mode, str) and "b" not in mode)


def read_source(source) -> bytes:
    """The bytes of an upload source: a path or a readable binary file."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as f:
            return f.read()
    if (isinstance(source, io.TextIOBase) or not callable(getattr(source, "read", None))
            or getattr(source, "closed", False)):
        raise ValueError(f"Invalid file value {source!r}: must be a path or a binary file "
                         "open for reading")
    readable = getattr(source, "readable", None)
    if callable(readable) and not readable():
        raise ValueError(f"Invalid file value {source!r}: the file is not open for reading")
    data = source.read()
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ValueError(f"Invalid file value {source!r}: must be open in binary mode")
    return bytes(data)
