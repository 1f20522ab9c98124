"""Sampling profiles of running servers (py-spy), summarised for RESULTS.md."""

from __future__ import annotations

import collections
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.harness import OUT, Proc

# Frames that mean "waiting for work", not work: excluded from the shares.
_IDLE = ("epoll_wait", "epoll_pwait", "select_epoll_poll", "poll ", "pthread_cond_wait")
# libuv's and uvloop's C sources (uvloop's loop.c is Cython-generated).
_UVLOOP = {
    "loop.c",
    "core.c",
    "linux.c",
    "stream.c",
    "tcp.c",
    "uv-common.c",
    "loop-watcher.c",
    "queue.h",
    "timer.c",
    "async.c",
    "poll.c",
    "signal.c",
    "heap-inl.h",
}


_LOOP = "event loop, with the C/Cython callbacks it runs (gRPC core, uvloop)"


@dataclass(frozen=True)
class Profile:
    """Where one process spent its (non-idle) samples."""

    name: str
    samples: int
    idle: int
    areas: list[tuple[str, float]]
    """Self time by area (HTTP server, gRPC, bridge code, ...), as fractions."""
    functions: list[tuple[str, float]]
    """Python functions by inclusive time, as fractions."""


def _raw(label: str, proc: Proc) -> Path:
    return OUT / f"profile-{re.sub(r'[^A-Za-z0-9]+', '-', label)}-{proc.name}.raw"


def record(
    py_spy: Path, label: str, procs: Sequence[Proc], seconds: float
) -> list[subprocess.Popen[bytes]]:
    """Start py-spy on every process; the caller runs load meanwhile, then calls `collect`."""
    running = []
    for proc in procs:
        output = _raw(label, proc)
        output.unlink(missing_ok=True)
        argv = [
            str(py_spy),
            "record",
            "--pid",
            str(proc.pid),
            "--duration",
            f"{seconds:g}",
            "--rate",
            "400",
            # Python frames only and without pausing the process: native unwinding pauses it
            # for long enough to distort what is measured. C code shows in its Python caller.
            "--nonblocking",
            "--subprocesses",
            "--format",
            "raw",
            "--output",
            str(output),
        ]
        running.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return running


def collect(
    running: Sequence[subprocess.Popen[bytes]], label: str, procs: Sequence[Proc]
) -> list[Profile]:
    for popen in running:
        popen.wait(timeout=120)
    profiles = []
    for proc in procs:
        path = _raw(label, proc)
        if path.exists() and path.stat().st_size:
            profiles.append(summarise(proc.name, path))
    return profiles


def _area(frame: str) -> str:
    name, _, where = frame.rpartition(" (")
    where = where.rstrip(")")
    source = where.split(":")[0]
    base = source.rsplit("/", 1)[-1]
    # Without native frames, C and Cython code counts for the innermost Python frame: an asyncio
    # handle runs grpc.aio's Cython callbacks, a bare thread frame is gRPC's poller thread or a
    # thread pool.
    if base == "events.py" and name.endswith("_run"):
        return _LOOP
    if base == "threading.py":
        return "background threads (gRPC poller, thread pools)"
    if source.endswith(".py") or ("/" in source and not base.endswith((".so", ".c", ".h"))):
        if "aiohttp/" in source or "multidict/" in source or "yarl/" in source:
            return "aiohttp (with its C parser and socket writes)"
        if source.startswith("grpc") or "/grpc/" in source:
            return "grpc.aio (with the gRPC core calls it makes)"
        if "jetbridge/" in source:
            return "bridge code (with the protobuf/orjson calls it makes)"
        if "jetactions/" in source:
            return "SDK servicer (jetactions)"
        if "google/protobuf" in source:
            return "protobuf"
        if "asyncio/" in source or "uvloop/" in source:
            return _LOOP
        if base in {"shop.py", "peer_server.py"}:
            return "action handlers"
        if "tornado/" in source:
            return "tornado (reference server)"
        if "jet_bridge" in source:
            return "jet-bridge (reference code)"
        if "sqlalchemy" in source:
            return "sqlalchemy (reference server)"
        return "other Python"
    if "cygrpc" in base or "grpc" in base:
        return "gRPC core (C)"
    if "_message" in base or "upb" in name:
        return "protobuf"
    if "orjson" in base:
        return "orjson"
    if base.startswith(("libc.so", "libpthread")):
        return "system calls (socket I/O, wake-ups)"
    if base in _UVLOOP:
        return "uvloop/libuv (C)"
    if base.startswith(("_http_parser", "_http_writer")):
        return "aiohttp (with its C parser and socket writes)"
    return "CPython interpreter"


def summarise(name: str, path: Path) -> Profile:
    areas: collections.Counter[str] = collections.Counter()
    functions: collections.Counter[str] = collections.Counter()
    samples = idle = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        if any(frames[-1].startswith(marker) for marker in _IDLE):
            idle += count
            continue
        samples += count
        areas[_area(frames[-1])] += count
        seen = set()
        for frame in frames:
            function, _, where = frame.rpartition(" (")
            source = where.split(":")[0]
            if source.endswith(".py") and function not in {"<module>", "main"}:
                key = f"{function} ({source.rsplit('/', 2)[-2:][0]}/{source.rsplit('/', 1)[-1]})"
                if key not in seen:
                    seen.add(key)
                    functions[key] += count
    total = samples or 1
    return Profile(
        name=name,
        samples=samples,
        idle=idle,
        areas=[(area, count / total) for area, count in areas.most_common()],
        functions=[(function, count / total) for function, count in functions.most_common(40)],
    )
