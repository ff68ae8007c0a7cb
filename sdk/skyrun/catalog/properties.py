"""``properties``: the builder of blob search expressions, ``p.<name>``.

``p`` accepts any attribute name, so that a filter can be written before it is run; a
name that is not a Blob field raises ``AttributeError`` when the search runs. The keys of
``extra_properties`` are addressed as ``p.extra_properties.<key>`` or
``p.extra_properties["<key>"]`` [skyrun].
"""

from __future__ import annotations

from skyrun.catalog.fields import EXTRA, STR, field
from skyrun.common.search import Property


class BlobProperty(Property):
    """A Blob field (or an extra-property key) in a search expression."""

    def __init__(self, name: str):
        known = field(name)
        if known is None:
            # Unknown names are reported when the search runs (API 12.3).
            super().__init__(name, STR, filterable=True, sortable=True)
        else:
            super().__init__(name, known.kind, known.filterable, known.sortable)

    def __getattr__(self, key: str) -> BlobProperty:
        if key.startswith("__"):
            raise AttributeError(key)
        return self[key]

    def __getitem__(self, key: str) -> BlobProperty:
        """``p.extra_properties["k"]``: the value under key ``k``."""
        if self.name != EXTRA:
            raise AttributeError(f"Blob has no attribute {self.name}.{key}")
        if not isinstance(key, str) or not key or '"' in key or "\x00" in key:
            raise ValueError(f"Cannot filter on property: {EXTRA}.{key} (a key used in a "
                             "filter must be a non-empty str, without double quotes or NUL)")
        return BlobProperty(f"{EXTRA}.{key}")

    def __repr__(self) -> str:
        return f"properties.{self.name}"


class Properties:
    """``p.<name>`` returns the search property of that name."""

    def __getattr__(self, name: str) -> BlobProperty:
        if name.startswith("__"):
            raise AttributeError(name)
        return BlobProperty(name)

    def __getitem__(self, name: str) -> BlobProperty:
        return BlobProperty(name)

    def __repr__(self) -> str:
        return "properties"


properties = Properties()
