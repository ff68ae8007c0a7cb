"""``ComputeResult`` and ``Serializable``: what a job returns, and how it is encoded
(defined in :mod:`skyrun.common.results`, which the executor imports on its own)."""

from skyrun.common.results import (
    MAX_DESCRIPTION,
    MAX_EXTRA_PROPERTIES,
    MAX_TAG_BYTES,
    MAX_TAGS,
    ComputeResult,
    Serializable,
    serialize_value,
)

__all__ = ["MAX_DESCRIPTION", "MAX_EXTRA_PROPERTIES", "MAX_TAGS", "MAX_TAG_BYTES",
           "ComputeResult", "Serializable", "serialize_value"]
