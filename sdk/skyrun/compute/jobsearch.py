"""``JobSearch``: a search over Jobs with bulk cancel, rerun and delete."""

from __future__ import annotations

from collections.abc import Iterator

from skyrun.backends.ports import JOB
from skyrun.common.lazysearch import PAGE
from skyrun.common.search import STR, And, Compare, Expression, In, SortKey
from skyrun.compute.operations import cancel_record, check_accepts_jobs, delete_job_records
from skyrun.compute.search import Search
from skyrun.domain.statuses import ACTIVE, TERMINAL, JobStatus
from skyrun.engine import lifecycle
from skyrun.exceptions import NotFoundError

_ALL = [s.value for s in JobStatus]


_RERUNNABLE = (JobStatus.FAILURE.value, JobStatus.TIMEOUT.value, JobStatus.CANCELED.value)
_NOT_TERMINAL = tuple(s for s in _ALL if s not in TERMINAL)
_NOT_ACTIVE = tuple(s for s in _ALL if s not in ACTIVE)


class JobSearch(Search):
    """A search over Jobs, with bulk ``cancel``, ``rerun`` and ``delete``.

    The bulk operations act on every match (sort and limit are ignored). They read the
    matches a page at a time, in id order, so that any number of jobs can be handled
    without holding them all in memory.
    """

    def _pages(self, statuses: tuple[str, ...]) -> Iterator[list[dict]]:
        store = self._client.backend.store
        base: Expression = In("status", statuses, STR)
        where = self._where()
        if where is not None:
            base = And(where, base)
        last = None
        while True:
            query = base if last is None else And(base, Compare("id", ">", last, STR))
            page = store.query(JOB, query, [SortKey("id")], PAGE, 0)
            if page:
                yield page
            if len(page) < PAGE:
                return
            last = page[-1]["id"]

    def cancel(self) -> list:
        """Cancel every non-terminal match; returns them."""
        backend = self._client.backend
        out = []
        for page in self._pages(_NOT_TERMINAL):
            for record in page:
                updated = cancel_record(backend, record)
                if updated is not None:
                    out.append(self._model._from_record(updated, _client=self._client))
        return out

    def rerun(self) -> list:
        """Requeue the ``failure``, ``timeout`` and ``canceled`` matches; returns them.
        ``ConflictError``, changing nothing, if one belongs to a disabled or
        ``build_failed`` Function."""
        backend = self._client.backend
        function_ids = {r["function_id"] for page in self._pages(_RERUNNABLE) for r in page}
        functions = {}
        for fid in function_ids:
            function = backend.store.get_function(fid)
            if function is None:
                raise NotFoundError(f"Function {fid} not found")
            check_accepts_jobs(function, rerun=True)
            functions[fid] = function
        out = []
        for page in self._pages(_RERUNNABLE):
            for record in page:
                if record["function_id"] not in functions:
                    continue  # became rerunnable after the check: left for the next call
                updated = lifecycle.rerun_job(backend, record)
                if updated is not None:
                    out.append(self._model._from_record(updated, _client=self._client))
        for function in functions.values():
            backend.store.note_runnable(function["id"])
            lifecycle.ensure_workers(backend, function)
        return out

    def delete(self, delete_results: bool = False) -> list[str]:
        """Delete the non-active matches with their logs (and results if asked); returns
        their ids."""
        out: list[str] = []
        for page in self._pages(_NOT_ACTIVE):
            out.extend(r["id"] for r in
                       delete_job_records(self._client.backend, page, delete_results))
        return out
