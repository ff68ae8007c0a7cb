"""Progress bars for long waits: drawn on stderr when it is a terminal, or when forced."""

from __future__ import annotations

import sys


def stderr_is_terminal() -> bool:
    """Whether ``sys.stderr`` is a terminal (False for pipes, files and closed streams)."""
    try:
        return bool(sys.stderr.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def make_bar(progress: bool | None, total: int | None, desc: str, unit: str = "job"):
    """A tqdm bar on stderr, or None when no bar should be drawn.

    ``progress=None`` draws one only when stderr is a terminal; True and False force it.
    """
    if progress is None:
        progress = stderr_is_terminal()
    if not progress:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=True)
