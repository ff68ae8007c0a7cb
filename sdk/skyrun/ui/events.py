"""The monitor's server-sent event streams: live changes pushed to open pages, instead of
pages asking every 2 s.

- ``GET /api/functions/{fid}/events`` — ``event: function`` with the Function as
  ``GET /api/functions/{fid}`` returns it (status, job counts, ``live``), sent at once
  and again whenever it changes;
- ``GET /api/jobs/{jid}/log/events?offset=N`` — ``event: log`` with the log lines from
  line N on as ``GET /api/jobs/{jid}/log`` returns them (with ``reset`` true when the
  log was replaced, by a rerun, and starts again from line 0), sent whenever there are
  new lines or the job's status changes; then ``event: end`` once the job is no longer
  live, and the stream closes.

The server reads the store for each open stream (on its thread pool, as the API does);
what changes is compared there, so pages receive only changes. A stream whose
Function or job does not exist is answered like the API (404 JSON) before it starts.
Streams end when the page goes away or the server stops.
"""

from __future__ import annotations

import asyncio
import json
import time

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from skyrun.ui.api import Api
from skyrun.ui.responses import to_response

#: How often a stream reads the store: this often, or less when reading takes more than
#: a tenth of the time (a Function of 100,000 jobs takes tens of ms to count, a long log
#: is read whole).
FUNCTION_SECONDS = 1.0
LOG_SECONDS = 0.5
#: A comment line this often keeps idle connections open through proxies and timeouts.
HEARTBEAT_SECONDS = 15.0
#: Headers of every stream (``X-Accel-Buffering``: no proxy buffering).
STREAM_HEADERS = {"X-Accel-Buffering": "no"}


def event(name: str, payload) -> str:
    """One event in the ``text/event-stream`` format (JSON data on a single line)."""
    return f"event: {name}\ndata: {json.dumps(payload, ensure_ascii=False)}\n\n"


def routes(server) -> list[Route]:
    """The streams' routes for a ``UIServer`` (its API and its ``stopping`` flag)."""
    return [Route("/api/functions/{function_id}/events", _function_stream(server)),
            Route("/api/jobs/{job_id}/log/events", _log_stream(server))]


async def _pause(server, request: Request, seconds: float) -> bool:
    """Sleep ``seconds``; True when the stream should end instead (the server stops or
    the page went away)."""
    deadline = time.monotonic() + seconds
    while True:
        if server.stopping.is_set() or await request.is_disconnected():
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        await asyncio.sleep(min(left, 0.1))


async def _backoff(server, request: Request, cost: float, interval: float) -> bool:
    """After a read that took ``cost`` seconds, pause long enough that reads take at
    most a tenth of the time (a big Function's counts, a long log); True to end."""
    if cost * 10 <= interval:
        return False
    return await _pause(server, request, cost * 10 - interval)


def _stream(generator) -> StreamingResponse:
    return StreamingResponse(generator, media_type="text/event-stream",
                             headers=STREAM_HEADERS)


def _function_stream(server):
    async def endpoint(request: Request) -> Response:
        function_id = request.path_params["function_id"]

        async def read():
            return await run_in_threadpool(Api.call, server.api.get_function, function_id,
                                           query={}, body=None)

        first = await read()
        if first.status != 200:
            return to_response(first)

        async def events():
            reply, last, sent_at = first, None, time.monotonic()
            while True:
                if reply.status != 200:  # deleted meanwhile: say so, and end
                    yield event("gone", reply.payload)
                    return
                text = json.dumps(reply.payload, sort_keys=True)
                if text != last:
                    yield event("function", reply.payload)
                    last, sent_at = text, time.monotonic()
                elif time.monotonic() - sent_at > HEARTBEAT_SECONDS:
                    yield ": keep-alive\n\n"
                    sent_at = time.monotonic()
                if await _pause(server, request, FUNCTION_SECONDS):
                    return
                started = time.monotonic()
                reply = await read()
                if await _backoff(server, request, time.monotonic() - started,
                                  FUNCTION_SECONDS):
                    return

        return _stream(events())

    return endpoint


def _log_stream(server):
    async def endpoint(request: Request) -> Response:
        job_id = request.path_params["job_id"]

        async def read(offset: int):
            return await run_in_threadpool(Api.call, server.api.job_log, job_id,
                                           query={"offset": [str(offset)]}, body=None)

        first = await run_in_threadpool(
            Api.call, server.api.job_log, job_id,
            query={"offset": request.query_params.getlist("offset")}, body=None)
        if first.status != 200:
            return to_response(first)

        async def events():
            reply, offset, status, sent_at = first, None, None, time.monotonic()
            while True:
                if reply.status != 200:
                    yield event("gone", reply.payload)
                    return
                data = dict(reply.payload, reset=False)
                if offset is not None and data["next"] < offset:
                    # The log was replaced (a rerun): send it again from its start.
                    reply = await read(0)
                    if reply.status != 200:
                        continue
                    data = dict(reply.payload, reset=True)
                if data["lines"] or data["status"] != status or data["reset"]:
                    yield event("log", data)
                    sent_at = time.monotonic()
                elif time.monotonic() - sent_at > HEARTBEAT_SECONDS:
                    yield ": keep-alive\n\n"
                    sent_at = time.monotonic()
                offset, status = data["next"], data["status"]
                if not data["live"]:
                    yield event("end", {"status": status, "next": offset})
                    return
                if await _pause(server, request, LOG_SECONDS):
                    return
                started = time.monotonic()
                reply = await read(offset)
                if await _backoff(server, request, time.monotonic() - started, LOG_SECONDS):
                    return

        return _stream(events())

    return endpoint
