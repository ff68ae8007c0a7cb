"""Small helpers over the low-level DynamoDB client: paging, batch reads, fan-out."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from skyrun.backends.ports import bounded_chunks, chunks

#: Concurrent requests of one bulk call (insert, delete, batch reads).
FAN_OUT = 16
#: BatchGetItem takes at most 100 keys.
BATCH_GET = 100
#: A transaction takes at most 100 items and 4 MB; we keep parts to 25 items and well
#: under the size limit.
TRANSACTION_ITEMS = 25
TRANSACTION_BYTES = 3_500_000


def fan_out(fn: Callable[[Any], Any], items: Iterable[Any], workers: int = FAN_OUT) -> list[Any]:
    """``[fn(item) for item in items]``, run ``workers`` at a time, in order."""
    items = list(items)
    if len(items) <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        return list(pool.map(fn, items))


def pages(call: Callable[..., dict[str, Any]], **params: Any) -> Iterator[dict[str, Any]]:
    """Every page of a Query or Scan."""
    while True:
        page = call(**params)
        yield page
        last = page.get("LastEvaluatedKey")
        if not last:
            return
        params["ExclusiveStartKey"] = last


def items(call: Callable[..., dict[str, Any]], **params: Any) -> Iterator[dict[str, Any]]:
    """Every item of a Query or Scan, page by page."""
    for page in pages(call, **params):
        yield from page.get("Items", [])


def count(call: Callable[..., dict[str, Any]], **params: Any) -> int:
    """The ``Select=COUNT`` total of a Query or Scan over all its pages."""
    return sum(page.get("Count", 0) for page in pages(call, Select="COUNT", **params))


def batch_get(client: Any, table: str, keys: list[dict[str, Any]],
              consistent: bool = True) -> list[dict[str, Any]]:
    """The items of those keys that exist (BatchGetItem, 100 at a time, in parallel,
    retrying unprocessed keys with backoff)."""
    def one(part: list[dict[str, Any]]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        request = {table: {"Keys": part, "ConsistentRead": consistent}}
        delay = 0.05
        while request:
            reply = client.batch_get_item(RequestItems=request)
            found.extend(reply.get("Responses", {}).get(table, []))
            request = reply.get("UnprocessedKeys") or {}
            if request:
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 2.0)
        return found

    out: list[dict[str, Any]] = []
    for part in fan_out(one, list(chunks(keys, BATCH_GET))):
        out.extend(part)
    return out


def transaction_parts(operations: list[dict[str, Any]], sizes: list[int]) -> Iterator[list[dict[str, Any]]]:
    """Split transaction items into parts of at most 25 items and ~3.5 MB."""
    return bounded_chunks(operations, sizes, TRANSACTION_ITEMS, TRANSACTION_BYTES)


def item_size(item: dict[str, Any]) -> int:
    """A generous estimate of an item's size in bytes."""
    total = 0
    for name, attr in item.items():
        (_, value), = attr.items()
        total += len(name) + (len(value.encode()) if isinstance(value, str) else 16)
    return total
