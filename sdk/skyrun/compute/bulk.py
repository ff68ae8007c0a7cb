"""Results of ``Function.map``: ``JobBulkCreateResult`` and ``JobBulkCreateError``."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from operator import index as as_index
from typing import Any


class JobBulkCreateError:
    """A batch of ``map`` that could not be stored."""

    def __init__(self, function, args, kwargs, environments, exception: BaseException,
                 reference_id: str):
        self.function = function
        self.args = args
        self.kwargs = kwargs
        self.environments = environments
        self.exception = exception
        self.reference_id = reference_id

    def __str__(self) -> str:
        return f"{self.reference_id}: {self.exception}"

    def __repr__(self) -> str:
        return f"JobBulkCreateError({self})"


class JobBulkCreateResult(list):
    """The Jobs ``map`` created, in input order, with the errors of failed batches.

    A ``list`` of Jobs. The Jobs of the batches ``map()`` stored are made when first read
    (at 100,000 jobs, making every Job object was a sixth of ``map()``'s time and most of
    its memory): ``len()``, indexing, slicing and iteration make only the Jobs they
    return, and each Job once (``result[0] is result[0]``); any other use of the list
    (comparison, ``repr``, ``in``, changing it, copying it) first makes them all, and
    from then on it is a plain list of them.
    """

    def __init__(self, *args):
        super().__init__(*args)
        self.errors: list[JobBulkCreateError] = []
        # The Jobs not made yet: the batches' records, where each batch starts, how to
        # make a Job from a record, and the Jobs made so far (None: not yet). While any
        # is pending, the list's own storage is empty.
        self._batches: list[tuple[Sequence[dict], Callable[[dict], Any]]] = []
        self._starts: list[int] = []
        self._jobs: list[Any] = []

    @property
    def is_success(self) -> bool:
        """True when every batch was stored."""
        return not self.errors

    def append_error(self, error: JobBulkCreateError) -> None:
        """Record a failed batch."""
        self.errors.append(error)

    # -- the Jobs, made when read ---------------------------------------------------------
    def _add_records(self, records: Sequence[dict], make_job: Callable[[dict], Any]) -> None:
        """Append the Jobs of one stored batch, in order, made by ``make_job`` from its
        records when first read."""
        if not records:
            return
        if not self._batches and list.__len__(self):  # holds Jobs already: made now
            list.extend(self, map(make_job, records))
            return
        self._starts.append(len(self._jobs))
        self._batches.append((records, make_job))
        self._jobs.extend([None] * len(records))

    def _job(self, i: int):
        job = self._jobs[i]
        if job is None:
            batch = bisect_right(self._starts, i) - 1
            records, make_job = self._batches[batch]
            job = self._jobs[i] = make_job(records[i - self._starts[batch]])
        return job

    def _make_all(self) -> None:
        """Make every pending Job and hold them as a plain list does."""
        if self._batches:
            jobs = [self._job(i) for i in range(len(self._jobs))]
            self._batches, self._starts, self._jobs = [], [], []
            list.extend(self, jobs)

    def __len__(self) -> int:
        return len(self._jobs) if self._batches else list.__len__(self)

    def __getitem__(self, i):
        if not self._batches:
            return list.__getitem__(self, i)
        if isinstance(i, slice):  # a plain list, as a list's slice is
            return [self._job(k) for k in range(*i.indices(len(self._jobs)))]
        try:
            k = as_index(i)
        except TypeError:
            self._make_all()  # the list's own error
            return list.__getitem__(self, i)
        if k < 0:
            k += len(self._jobs)
        if not 0 <= k < len(self._jobs):
            raise IndexError("list index out of range")
        return self._job(k)

    def __iter__(self) -> Iterator:
        # By position, as a list's iterator goes: it follows changes made meanwhile.
        k = 0
        while True:
            if self._batches:
                if k >= len(self._jobs):
                    return
                yield self._job(k)
            else:
                if k >= list.__len__(self):
                    return
                yield list.__getitem__(self, k)
            k += 1

    def __reduce_ex__(self, protocol):
        self._make_all()
        return super().__reduce_ex__(protocol)

    def __radd__(self, other):
        # ``[...] + result``: the left list's concatenation reads this one's storage.
        self._make_all()
        return NotImplemented


def _making_all(name: str):
    """``list.<name>``, after every pending Job is made (of both lists, for a binary
    operation with another result)."""
    method = getattr(list, name)

    def wrapper(self, *args, **kwargs):
        self._make_all()
        for other in args:
            if isinstance(other, JobBulkCreateResult):
                other._make_all()
        return method(self, *args, **kwargs)

    wrapper.__name__ = wrapper.__qualname__ = name
    wrapper.__doc__ = method.__doc__
    return wrapper


for _name in ("__repr__", "__contains__", "__reversed__", "__eq__", "__ne__", "__lt__",
              "__le__", "__gt__", "__ge__", "__add__", "__iadd__", "__mul__", "__rmul__",
              "__imul__", "__setitem__", "__delitem__", "__sizeof__", "append", "extend",
              "insert", "pop", "remove", "clear", "copy", "index", "count", "reverse", "sort"):
    setattr(JobBulkCreateResult, _name, _making_all(_name))
del _name
