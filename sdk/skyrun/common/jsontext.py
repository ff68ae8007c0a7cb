"""``JSONText``: a value already encoded as JSON, which stores keep as it is."""

from __future__ import annotations


class JSONText(str):
    """A value already encoded as JSON text. ``map()`` encodes every job's inputs once to
    check them; stores keep this text as it is instead of encoding the value again."""
