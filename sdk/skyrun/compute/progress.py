"""Progress bars for long waits: drawn on stderr when it is a terminal, or when forced."""

from __future__ import annotations

import sys


def make_bar(progress: bool | None, total: int | None, desc: str, unit: str = "job"):
    """A tqdm bar, or None when no bar should be drawn."""
    if progress is None:
        progress = hasattr(sys.stderr, "isatty") and sys.stderr.isatty()
    if not progress:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=True)
