"""A bounded least-recently-used map whose entries expire: the bridge's credential caches."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["TtlCache", "clock"]

V = TypeVar("V")

clock: Callable[[], float] = time.monotonic
"""The clock entries expire by, in seconds, read at each call. A seam for tests: they replace it
with one they advance (tests/support.FakeClock), so that expiry is tested without sleeping."""


class TtlCache(Generic[V]):
    """A bounded least-recently-used map whose entries expire (by `clock`, monotonic)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, tuple[float, V]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: str) -> V | None:
        """The live value under `key`, or None."""
        item = self._items.get(key)
        if item is None:
            return None
        if item[0] <= clock():
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return item[1]

    def ttl(self, key: str) -> float:
        """Seconds `key` stays live; 0 when absent or expired."""
        item = self._items.get(key)
        return 0.0 if item is None else max(0.0, item[0] - clock())

    def put(self, key: str, value: V, ttl: float) -> None:
        """Keep `value` for `ttl` seconds (not at all when `ttl` <= 0)."""
        if ttl <= 0:
            return
        self._items[key] = (clock() + ttl, value)
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)
