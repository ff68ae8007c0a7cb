"""Where the running skyrun comes from, so that the processes it starts (workers,
executors, environment checks, the sandbox's servers) import the same code, even from a
source tree that is not installed."""

from __future__ import annotations

from pathlib import Path


def source_paths() -> list[str]:
    """The directories the running ``skyrun`` and ``skyrun_runtime`` are imported from
    (one entry when they share one)."""
    import skyrun
    import skyrun_runtime

    return list(dict.fromkeys([str(Path(skyrun.__file__).parents[1]),
                               str(Path(skyrun_runtime.__file__).parents[1])]))
