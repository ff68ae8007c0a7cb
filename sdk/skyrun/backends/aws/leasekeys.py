"""The keys of the ``leases`` table, the one place that writes them out.

The table holds short-lived items under a partition key ``pk`` and a sort key ``sk``:

* ``pk = "function#{function_id}"``, for what a Function has running:

  * ``sk = "worker#{worker_id}"``: a worker's lease, renewed by its heartbeat
    (``launcher``);
  * ``sk = "launch#{launch_id}"``: a launch of workers not all registered yet
    (``launcher``, ``lambda_launcher``);
  * ``sk = "build"``: the Function's image build in progress (``builder``);

* ``pk = "slot#{scope}#{owner}#{index}"``, ``sk = "slot"``: a worker slot
  (``slotitems``; the slot's own key is :attr:`skyrun.domain.slots.Slot.key`).
"""

from __future__ import annotations

from typing import Any

from skyrun.domain.slots import Slot

#: Sort key prefixes of a worker's lease and of a launch; the sort key of a build.
WORKER, LAUNCH, BUILD = "worker#", "launch#", "build"


def function_pk(function_id: str) -> dict[str, Any]:
    """The partition key of a Function's workers, launches and build."""
    return {"S": f"function#{function_id}"}


def worker_key(function_id: str, worker_id: str) -> dict[str, Any]:
    """The key of a worker's lease."""
    return {"pk": function_pk(function_id), "sk": {"S": WORKER + worker_id}}


def launch_key(function_id: str, launch_id: str) -> dict[str, Any]:
    """The key of a launch."""
    return {"pk": function_pk(function_id), "sk": {"S": LAUNCH + launch_id}}


def build_key(function_id: str) -> dict[str, Any]:
    """The key of a Function's build in progress."""
    return {"pk": function_pk(function_id), "sk": {"S": BUILD}}


def slot_key(slot: Slot) -> dict[str, Any]:
    """The key of a worker slot."""
    return {"pk": {"S": f"slot#{slot.key}"}, "sk": {"S": "slot"}}
