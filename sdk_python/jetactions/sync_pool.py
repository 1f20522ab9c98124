"""The bounded pool of threads that runs sync handlers.

A sync handler blocks, so it runs in a worker thread; Python cannot interrupt a thread, so a
handler that hangs keeps its thread after its call has ended (deadline passed, caller gone,
server stopping). The pool is built for that case:

- it is bounded (``ActionServer(sync_workers=N)``, 32 by default) and never queues: a call
  that finds every worker busy fails at once with RESOURCE_EXHAUSTED, so a server full of hung
  handlers says so instead of answering every sync call with a late DEADLINE_EXCEEDED;
- a handler still running after its call ended is *stuck*: the pool logs one WARNING per
  stuck handler and counts them (``stuck``, for metrics and health) until they return;
- its threads are daemon threads, so a stopping server ends its process after the grace
  period whatever its handlers are doing.

A call is handed to a thread and back with one event loop future that the worker resolves
through ``call_soon_threadsafe``: the same hand-off as ``loop.run_in_executor`` without its
``concurrent.futures.Future`` and the chaining of the two futures (tests/test_sdk_fastpaths.py
compares both).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any, TypeVar

__all__ = ["DEFAULT_SYNC_WORKERS", "PoolExhausted", "SyncPool"]

logger = logging.getLogger("jetactions")

DEFAULT_SYNC_WORKERS = 32
"""The default number of sync handlers an action server runs at once."""

T = TypeVar("T")


class PoolExhausted(Exception):
    """Every worker of the pool is busy; the call is refused rather than queued."""


class _Work:
    __slots__ = ("cancelled", "finished", "function", "future", "loop", "started", "stuck", "what")

    def __init__(self, function: Callable[[], Any], what: str) -> None:
        self.function = function
        self.what = what
        self.loop = asyncio.get_running_loop()
        self.future: asyncio.Future[Any] = self.loop.create_future()
        self.started = 0.0
        """When a worker took it (under the pool's lock); 0 while it waits."""
        self.cancelled = False
        """The caller stopped waiting before a worker took it: it never runs."""
        self.finished = False
        self.stuck = False


def _deliver(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    # On the event loop: the caller may have stopped waiting (cancelled) meanwhile.
    if future.cancelled():
        return
    if error is None:
        future.set_result(result)
    elif isinstance(error, StopIteration):
        # A future cannot hold StopIteration (it would end the awaiting coroutine's frame).
        future.set_exception(RuntimeError(f"sync handler raised StopIteration: {error!r}"))
    else:
        future.set_exception(error)


class SyncPool:
    """Runs sync handlers in at most ``size`` daemon threads; see the module's docs.

    Args:
        size: The most handlers running at once (at least 1).
        name: The server's name, for thread names and messages.

    Raises:
        ValueError: ``size`` is below 1.
    """

    def __init__(self, size: int = DEFAULT_SYNC_WORKERS, *, name: str = "actions") -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"sync_workers must be a whole number of at least 1, not {size!r}")
        self._size = size
        self._name = name
        self._lock = threading.Lock()
        self._queue: SimpleQueue[_Work] = SimpleQueue()
        self._busy = 0
        self._idle = 0
        self._stuck = 0

    @property
    def size(self) -> int:
        """The most handlers that run at once."""
        return self._size

    @property
    def busy(self) -> int:
        """Handlers running now, stuck ones included."""
        return self._busy

    @property
    def stuck(self) -> int:
        """Handlers still running after their call ended (deadline, cancel or stop)."""
        return self._stuck

    async def run(self, function: Callable[[], T], what: str) -> T:
        """Runs ``function`` in a worker thread and returns its result.

        ``what`` names the call in the log (``action 'export'``). Cancelling the awaiting
        task ends the wait at once; the thread runs on, counted as stuck until it returns.

        Raises:
            PoolExhausted: Every worker is busy.
        """
        work = _Work(function, what)
        self._submit(work)
        try:
            result: T = await work.future
            return result
        except asyncio.CancelledError:
            self._stop_waiting(work)
            raise

    def _submit(self, work: _Work) -> None:
        with self._lock:
            if self._busy >= self._size:
                raise PoolExhausted(
                    f"all {self._size} sync workers of action server {self._name!r} are busy "
                    f"({self._stuck} stuck past the end of their call); raise sync_workers "
                    "or fix the handlers that hang"
                )
            self._busy += 1
            # Every thread is either running one call or idle: a busy count within the
            # size means a thread is free now, or may be started.
            spawn = self._idle == 0
            if not spawn:
                self._idle -= 1
        self._queue.put(work)
        if spawn:
            number = self._busy
            threading.Thread(
                target=self._serve, name=f"jetactions-{self._name}-{number}", daemon=True
            ).start()

    def _stop_waiting(self, work: _Work) -> None:
        """The caller is gone: a call not yet taken never runs; a running one is stuck."""
        with self._lock:
            if not work.started:
                work.cancelled = True
                return
            if work.finished or work.stuck:
                return
            work.stuck = True
            self._stuck += 1
            stuck = self._stuck
        logger.warning(
            "sync handler of %s still runs %.1f s after its call ended; its worker stays "
            "busy until it returns (%d of %d sync workers stuck)",
            work.what,
            time.monotonic() - work.started,
            stuck,
            self._size,
        )

    def _serve(self) -> None:
        while True:
            work = self._queue.get()
            with self._lock:
                ran = not work.cancelled
                work.started = time.monotonic()  # before running: a cancel from now on is stuck
            error: BaseException | None = None
            result: Any = None
            if ran:
                try:
                    result = work.function()
                except BaseException as raised:
                    error = raised
            # The worker is free before the caller hears back, so its next call finds it.
            with self._lock:
                self._busy -= 1
                self._idle += 1
                work.finished = True
                was_stuck = work.stuck
                if was_stuck:
                    self._stuck -= 1
            if was_stuck:
                logger.info(
                    "stuck sync handler of %s returned after %.1f s",
                    work.what,
                    time.monotonic() - work.started,
                )
            if ran and not work.loop.is_closed():
                # The loop may close meanwhile (a stuck handler outliving its server).
                with contextlib.suppress(RuntimeError):
                    work.loop.call_soon_threadsafe(_deliver, work.future, result, error)
            del work, result, error  # drop references while idle
