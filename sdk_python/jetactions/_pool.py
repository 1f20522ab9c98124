"""The worker threads that run sync handlers, counted so that metrics can show their use."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

__all__ = ["HandlerPool"]

P = ParamSpec("P")
T = TypeVar("T")


class HandlerPool(ThreadPoolExecutor):
    """A thread pool that knows how many of its threads run a handler now.

    Metrics read ``size``, ``busy`` and, when a pool has it, ``stuck`` (threads still running
    a handler whose call has ended); any executor with those attributes can take its place.

    Args:
        name: Names the threads, for thread dumps.
    """

    def __init__(self, name: str) -> None:
        super().__init__(thread_name_prefix=f"jetactions-{name}")
        self._lock = threading.Lock()
        self._busy = 0

    @property
    def size(self) -> int:
        """The most threads the pool starts."""
        return self._max_workers

    @property
    def busy(self) -> int:
        """Threads running a handler now."""
        return self._busy

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        """Runs ``fn`` in a worker thread, counted as busy while it runs (not while queued)."""
        return super().submit(self._counted, fn, *args, **kwargs)

    def _counted(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        with self._lock:
            self._busy += 1
        try:
            return fn(*args, **kwargs)
        finally:
            with self._lock:
                self._busy -= 1
