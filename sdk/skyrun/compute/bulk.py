"""Results of ``Function.map``: ``JobBulkCreateResult`` and ``JobBulkCreateError``."""

from __future__ import annotations


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
    """The Jobs ``map`` created, in input order, with the errors of failed batches."""

    def __init__(self, *args):
        super().__init__(*args)
        self.errors: list[JobBulkCreateError] = []

    @property
    def is_success(self) -> bool:
        """True when every batch was stored."""
        return not self.errors

    def append_error(self, error: JobBulkCreateError) -> None:
        """Record a failed batch."""
        self.errors.append(error)
