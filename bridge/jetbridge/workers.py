"""`jetbridge serve --workers N`: N bridge processes sharing one port.

Each worker is a whole bridge (its own event loop, gRPC channels and discovery), listening with
SO_REUSEPORT so that the kernel spreads connections over them; the bridge keeps no state a
request depends on, so any worker can answer any request. The supervisor only starts workers,
restarts one that dies, and passes SIGTERM/SIGINT on so that every worker drains. A worker
that exits with code 2 cannot start (its port is taken, a setting is wrong): restarting it would
spin, so the supervisor stops every worker and exits 2 too. Workers ask the kernel to end them
when the supervisor dies, even by SIGKILL (Linux's PR_SET_PDEATHSIG), so none is left behind.

With `metrics_port` set, the supervisor also serves `/metrics`: it makes a directory for
prometheus-client's multiprocess mode, hands it to the workers in PROMETHEUS_MULTIPROC_DIR, and
answers with the sum over the workers' files; a worker that exits is marked dead (its live
gauges leave the sum, its counters stay in it), and the directory is removed at the end.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from types import FrameType

from jetbridge.config import Settings

log = logging.getLogger(__name__)

WORKER_ENV = "JETBRIDGE_WORKER"
"""Set in a worker's environment (its index); a worker never starts workers of its own."""

CANNOT_START = 2
"""A worker's exit code when it cannot start; the supervisor then stops, with the same code."""
_RESTART_PAUSE = 1.0
_PR_SET_PDEATHSIG = 1


def is_worker() -> bool:
    """True inside a worker started by the supervisor."""
    return WORKER_ENV in os.environ


def supervise(
    argv: Sequence[str], workers: int, shutdown_timeout: float, settings: Settings | None = None
) -> int:
    """Run `jetbridge <argv>` in `workers` processes until SIGTERM/SIGINT; 0 on a clean stop."""
    with _metrics_endpoint(settings) as (env, worker_exited):
        return _supervise(argv, workers, shutdown_timeout, env, worker_exited)


def _supervise(
    argv: Sequence[str],
    workers: int,
    shutdown_timeout: float,
    env: dict[str, str],
    worker_exited: Callable[[int], None],
) -> int:
    stopping: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.append(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    children = [_start(argv, index, env) for index in range(workers)]
    log.info("started %d workers: pids %s", workers, [child.pid for child in children])
    failed = 0
    while not stopping and not failed:
        for index, child in enumerate(children):
            if child.poll() == CANNOT_START:
                log.error("worker %d cannot start (see above); stopping", index)
                failed = CANNOT_START
                stopping.append(signal.SIGTERM)
                break
            if child.poll() is not None and not stopping:
                log.error(
                    "worker %d (pid %d) exited with %s; restarting",
                    index,
                    child.pid,
                    child.returncode,
                )
                worker_exited(child.pid)
                time.sleep(_RESTART_PAUSE)  # a worker that cannot start must not spin
                children[index] = _start(argv, index, env)
        time.sleep(0.2)
    for child in children:
        if child.poll() is None:
            child.send_signal(stopping[0])
    deadline = time.monotonic() + shutdown_timeout + 5
    codes = [_wait(child, deadline) for child in children]
    for child in children:
        worker_exited(child.pid)
    return failed or (0 if all(code == 0 for code in codes) else 1)


def _start(argv: Sequence[str], index: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    env = {**os.environ, **env, WORKER_ENV: str(index)}
    supervisor = os.getpid()

    def die_with_supervisor() -> None:
        """In the child before exec: SIGTERM it when the supervisor dies (Linux only)."""
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        except (OSError, AttributeError):
            return
        if os.getppid() != supervisor:  # it died before the request took effect
            os._exit(1)

    return subprocess.Popen(
        [sys.executable, "-m", "jetbridge", *argv], env=env, preexec_fn=die_with_supervisor
    )


@contextlib.contextmanager
def _metrics_endpoint(
    settings: Settings | None,
) -> Iterator[tuple[dict[str, str], Callable[[int], None]]]:
    """The workers' extra environment and what to do when one exits, while `/metrics` (the sum
    over the workers) is served on `metrics_port`; nothing when metrics are off."""
    if settings is None or not settings.observability.metrics_port:
        yield {}, lambda pid: None
        return
    from prometheus_client import CollectorRegistry, multiprocess, start_http_server

    from jetbridge.metrics import MULTIPROC_ENV

    directory = tempfile.mkdtemp(prefix="jetbridge-metrics-")
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    address, port = settings.http.address, settings.observability.metrics_port
    server, thread = start_http_server(port, address, registry)
    log.info("serving metrics on http://%s:%d/metrics", address, port)
    try:

        def exited(pid: int) -> None:
            multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]

        yield {MULTIPROC_ENV: directory}, exited
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        shutil.rmtree(directory, ignore_errors=True)


def _wait(child: subprocess.Popen[bytes], deadline: float) -> int:
    try:
        return child.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        log.error("worker pid %d did not stop in time; killing it", child.pid)
        child.kill()
        return child.wait()
