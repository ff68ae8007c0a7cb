"""What the worker and its executor child say to each other.

The worker sends one request per job over a pipe; the executor runs it and answers. The
executor's stdout and stderr share one pipe that the worker reads line by line; after each
job the executor writes END_MARK there, so the worker knows every line of the job has
arrived.

A message is pickled and sent after its length, as ``multiprocessing.connection`` frames
them (:class:`Channel`), without loading ``multiprocessing``: both processes start
faster without it (about 15 ms of CPU each), and a cold job waits for both.
"""

from __future__ import annotations

import os
import pickle
import struct
from typing import Any

END_MARK = b"\x00__skyrun_end_of_job__\n"
ENV_CONTROL_FDS = "SKYRUN_EXECUTOR_FDS"
# The worker's pid: an executor whose parent is already another process exits at once.
ENV_WORKER_PID = "SKYRUN_WORKER_PID"

# Understood by every Python the executor may run (3.8 and later), whichever runs the worker.
_PICKLE_PROTOCOL = 4
_SIZE = struct.Struct("!i")
_BIG_SIZE = struct.Struct("!Q")
_SMALL = 16384  # below this, the length and the message go in one write


class Channel:
    """One end of a one-way pipe that carries pickled messages."""

    def __init__(self, fd: int):
        self.fd: int | None = fd

    def fileno(self) -> int:
        """The pipe's file descriptor."""
        if self.fd is None:
            raise OSError("the channel is closed")
        return self.fd

    def send(self, message: Any) -> None:
        """Send one message (blocks while the pipe is full)."""
        data = pickle.dumps(message, protocol=_PICKLE_PROTOCOL)
        size = len(data)
        header = _SIZE.pack(size) if size <= 0x7FFFFFFF else \
            _SIZE.pack(-1) + _BIG_SIZE.pack(size)
        if size < _SMALL:
            self._write(header + data)
        else:
            self._write(header)
            self._write(data)

    def recv(self) -> Any:
        """The next message; ``EOFError`` when the other end has closed the pipe."""
        (size,) = _SIZE.unpack(self._read(4))
        if size == -1:
            (size,) = _BIG_SIZE.unpack(self._read(8))
        return pickle.loads(self._read(size))

    def _write(self, data: bytes) -> None:
        fd, view = self.fileno(), memoryview(data)
        while view:
            view = view[os.write(fd, view):]

    def _read(self, size: int) -> bytearray:
        fd, buffer = self.fileno(), bytearray(size)
        view, done = memoryview(buffer), 0
        while done < size:
            n = os.readv(fd, [view[done:]])
            if n == 0:
                raise EOFError
            done += n
        return buffer

    def close(self) -> None:
        """Close this end (the other end then reads the end of the pipe)."""
        fd, self.fd = self.fd, None
        if fd is not None:
            os.close(fd)

    def __del__(self) -> None:
        try:
            self.close()
        except OSError:
            pass
