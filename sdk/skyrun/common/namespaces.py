"""Namespaces: ``"{org}:{user}"`` strings and the blob owners they imply."""

from __future__ import annotations


def default_owners(namespace: str) -> list[str]:
    """The default owners of a blob in ``namespace``: its user and its org."""
    return [f"user:{namespace}", f"org:{namespace.split(':', 1)[0]}"]
