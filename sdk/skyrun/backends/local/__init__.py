"""The embedded backend: SQLite records, files for blobs and logs, local worker processes."""

from skyrun.backends.local.backend import LocalBackend

__all__ = ["LocalBackend"]
