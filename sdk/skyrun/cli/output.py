"""How the CLI prints: aligned tables and key/value blocks for people, JSON for scripts."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime

#: What an empty cell shows.
NONE = "-"


def emit_json(data) -> None:
    """Print ``data`` as indented JSON (datetimes and other objects as strings)."""
    print(json.dumps(data, indent=2, default=str))


def note(message: str) -> None:
    """A remark for people (on stderr, so that stdout stays clean for pipes)."""
    print(message, file=sys.stderr)


def fmt_date(value: datetime | None) -> str:
    """A datetime in local time to the second, or ``-``."""
    if value is None:
        return NONE
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def fmt_value(value) -> str:
    """One cell: dates to the second, floats without noise, containers as compact JSON."""
    if value is None:
        return NONE
    if isinstance(value, datetime):
        return fmt_date(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, separators=(",", ":"), default=str)
    return str(value)


def shorten(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, with ``…`` where it was cut."""
    text = text.replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def table(headers: Sequence[str], rows: Iterable[Sequence], right: Iterable[str] = ()) -> str:
    """An aligned text table; the columns named in ``right`` are right-aligned (numbers)."""
    cells = [[fmt_value(v) if not isinstance(v, str) else v for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    right = set(right)

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if h in right else v.ljust(w)
                 for v, w, h in zip(values, widths, headers, strict=True)]
        return "  ".join(parts).rstrip()

    return "\n".join([line(headers), *(line(row) for row in cells)])


def fields(pairs: Iterable[tuple[str, object]]) -> str:
    """A ``key  value`` block, keys aligned, multi-line values indented under their key."""
    shown = [(k, fmt_value(v) if not isinstance(v, str) else v) for k, v in pairs]
    width = max((len(k) for k, _ in shown), default=0)
    out = []
    for key, value in shown:
        first, *rest = value.split("\n") if value else [""]
        out.append(f"{key.ljust(width)}  {first}".rstrip())
        out.extend(f"{'':{width}}  {more}".rstrip() for more in rest)
    return "\n".join(out)


def counts_text(counts: dict[str, int] | None) -> str:
    """``"success=3 failure=1"`` for the non-zero counts, or ``"none"``."""
    if not counts:
        return "none"
    text = " ".join(f"{k}={v}" for k, v in counts.items() if v)
    return text or "none"
