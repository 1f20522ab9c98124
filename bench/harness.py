"""Processes, load generators and measurements of the benchmark.

Every server runs as its own process on 127.0.0.1; the benchmark only ever stops the processes
it started, by PID. A measurement runs one load generator against one target for a fixed time
and records throughput, latency percentiles, and the CPU time every process of the target used
per request (from /proc through psutil, so it is immune to other load on the machine).
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
OUT = BENCH / ".out"
PEER_VENV = BENCH / ".peer-venv"
TOOLS_VENV = BENCH / ".tools-venv"
PEER_PACKAGE = "jet-bridge==1.12.13"
PEER_UVLOOP = "uvloop==0.23.0"
"""Beside the reference, so that it can run on uvloop too (PEER_UVLOOP=1, bench/peer_server.py)."""
PROFILER_PACKAGE = "py-spy==0.4.3"
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- setup -------------------------------------------------------------------------------------


def ensure_wrk() -> str:
    """wrk's path; installed from Debian when missing and we are root."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        log("installing wrk from Debian (apt-get install wrk)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, env=env)
        found = shutil.which("wrk")
    if not found:
        raise SystemExit("bench: wrk is needed: as root, apt-get install wrk")
    return found


def _venv(path: Path, *packages: str) -> Path:
    """A venv at `path` with `packages` installed (once; a stamp file remembers them)."""
    stamp = path / ".installed"
    wanted = " ".join(packages)
    if not stamp.exists() or stamp.read_text() != wanted:
        log(f"installing {wanted} into {path.relative_to(ROOT)}")
        if not (path / "bin" / "python").exists():
            base = getattr(sys, "_base_executable", sys.executable)
            subprocess.run([base, "-m", "venv", str(path)], check=True)
        pip = [str(path / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, "--upgrade", "pip"], check=True)
        subprocess.run([*pip, *packages], check=True)
        stamp.write_text(wanted)
    return path / "bin"


def ensure_peer() -> Path:
    """The reference jet-bridge's Python, in its own venv."""
    return _venv(PEER_VENV, PEER_PACKAGE, PEER_UVLOOP) / "python"


def ensure_profiler() -> Path | None:
    """py-spy, in a venv of its own; None when it cannot be installed."""
    try:
        return _venv(TOOLS_VENV, PROFILER_PACKAGE) / "py-spy"
    except subprocess.CalledProcessError:
        return None


# --- processes ---------------------------------------------------------------------------------


@dataclass
class Proc:
    """A server process the benchmark started."""

    name: str
    argv: list[str]
    env: dict[str, str]
    popen: subprocess.Popen[bytes]
    log_path: Path
    _known: set[int] = field(default_factory=set)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def processes(self) -> list[psutil.Process]:
        """The process and its children (a bridge with workers has several)."""
        try:
            main = psutil.Process(self.pid)
            found = [main, *main.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []
        self._known.update(p.pid for p in found)
        return found

    def cpu_seconds(self) -> float:
        total = 0.0
        for process in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess):
                times = process.cpu_times()
                total += times.user + times.system
        return total

    def rss(self) -> int:
        total = 0
        for process in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess):
                total += process.memory_info().rss
        return total

    def command(self) -> str:
        """The command line, with the environment it was given, for RESULTS.md."""
        env = " ".join(f"{key}={_shown(key, value)}" for key, value in self.env.items())
        argv = " ".join(_relative(arg) for arg in self.argv)
        return f"{env} {argv}".strip()

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 15 s; children it left behind are killed by PID."""
        self.processes()
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        for pid in self._known - {self.pid}:
            with contextlib.suppress(psutil.NoSuchProcess):
                leftover = psutil.Process(pid)
                leftover.kill()


def _shown(key: str, value: str) -> str:
    if "KEY" in key and len(value) > 40:
        return "<PEM>"
    return value


def _relative(arg: str) -> str:
    return arg.replace(str(ROOT) + "/", "")


class Processes:
    """Starts processes and stops every one of them, whatever happens."""

    def __init__(self) -> None:
        self.started: list[Proc] = []

    def start(self, name: str, argv: Sequence[str], env: Mapping[str, str] | None = None) -> Proc:
        OUT.mkdir(parents=True, exist_ok=True)
        log_path = OUT / f"{name}.log"
        extra = dict(env or {})
        with log_path.open("wb") as log_file:
            popen = subprocess.Popen(
                list(argv),
                cwd=ROOT,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **extra},
                start_new_session=True,
            )
        proc = Proc(name, list(argv), extra, popen, log_path)
        self.started.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in reversed(self.started):
            with contextlib.suppress(Exception):
                proc.stop()
        self.started.clear()

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()


def post(
    url: str, body: bytes, headers: Mapping[str, str], timeout: float = 5.0
) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_http(
    proc: Proc, url: str, body: bytes, headers: Mapping[str, str], timeout: float = 60.0
) -> bytes:
    """Wait until `url` answers 200 to `body`; the answer's body."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited; see {proc.log_path}")
        try:
            status, answer = post(url, body, headers, timeout=2)
            if status == 200:
                return answer
            last = f"HTTP {status}: {answer[:200]!r}"
        except OSError as error:
            last = str(error)
        time.sleep(0.1)
    raise RuntimeError(f"{proc.name} did not answer at {url}: {last}; see {proc.log_path}")


def wait_port(proc: Proc, port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited; see {proc.log_path}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{proc.name} did not listen on {port}; see {proc.log_path}")


# --- load --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpTarget:
    """Jet messages over HTTP, driven by wrk."""

    name: str
    url: str
    body: bytes
    headers: Mapping[str, str]
    procs: tuple[Proc, ...]
    """Processes whose CPU serves this target's requests."""


@dataclass(frozen=True)
class GrpcTarget:
    """ExecuteAction calls made directly with grpc.aio (bench/grpc_load.py)."""

    name: str
    target: str
    params: Mapping[str, Any]
    procs: tuple[Proc, ...]


Target = HttpTarget | GrpcTarget


@dataclass(frozen=True)
class Sample:
    """One timed run of one target."""

    target: str
    connections: int
    requests: int
    seconds: float
    p50_us: float
    p99_us: float
    errors: int
    cpu_us: Mapping[str, float]
    """CPU µs per request, by process name; `loadgen` is the load generator."""

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


_LUA = """\
wrk.method = "POST"
wrk.body = [==[{body}]==]
{headers}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\n{{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,'
    .. '"non2xx":%d,"socket_errors":%d}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, e.status, e.connect + e.read + e.write + e.timeout))
end
"""


def wrk_script(target: HttpTarget) -> Path:
    """The Lua script that makes wrk send this target's message and print JSON at the end."""
    headers = "\n".join(
        f"wrk.headers[ [==[{key}]==] ] = [==[{value}]==]" for key, value in target.headers.items()
    )
    path = OUT / f"{target.name}.lua"
    path.write_text(_LUA.format(body=target.body.decode(), headers=headers))
    return path


@dataclass
class Runner:
    """Runs load against targets and keeps the exact commands used."""

    wrk: str
    commands: dict[str, list[str]] = field(default_factory=dict)

    def command(self, target: Target, connections: int, seconds: float) -> list[str]:
        seconds = max(1, round(seconds))  # wrk takes whole seconds
        if isinstance(target, HttpTarget):
            script = wrk_script(target)
            # One wrk thread: on 2 cores the load generator must take as little as possible.
            return [
                self.wrk,
                "-t1",
                f"-c{connections}",
                f"-d{seconds:g}s",
                "--timeout",
                "10s",
                "-s",
                str(script),
                target.url,
            ]
        return [
            str(VENV_BIN / "python"),
            "-m",
            "bench.grpc_load",
            "--target",
            target.target,
            "--concurrency",
            str(connections),
            "--seconds",
            f"{seconds:g}",
            "--params",
            json.dumps(target.params, separators=(",", ":")),
        ]

    def run(self, target: Target, connections: int, seconds: float) -> Sample:
        argv = self.command(target, connections, seconds)
        key = f"{target.name} c{connections}"
        command = " ".join(_relative(arg) for arg in argv)
        # Warm-up and rounds differ in length: keep each distinct command once.
        if command not in self.commands.setdefault(key, []):
            self.commands[key].append(command)
        before = {proc.name: proc.cpu_seconds() for proc in target.procs}
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run(argv, cwd=ROOT, capture_output=True, check=False)
        after_children = resource.getrusage(resource.RUSAGE_CHILDREN)
        after = {proc.name: proc.cpu_seconds() for proc in target.procs}
        lines = [line for line in done.stdout.decode().splitlines() if line.startswith("{")]
        if done.returncode != 0 or not lines:
            raise RuntimeError(
                f"load generator failed for {key}: {done.stderr.decode()[-2000:]}"
                f"{done.stdout.decode()[-2000:]}"
            )
        result = json.loads(lines[-1])
        requests = int(result["requests"]) or 1
        loadgen = (after_children.ru_utime + after_children.ru_stime) - (
            children.ru_utime + children.ru_stime
        )
        cpu = {name: (after[name] - before[name]) * 1e6 / requests for name in before}
        cpu["loadgen"] = loadgen * 1e6 / requests
        return Sample(
            target=target.name,
            connections=connections,
            requests=int(result["requests"]),
            seconds=int(result["duration_us"]) / 1e6,
            p50_us=float(result["p50_us"]),
            p99_us=float(result["p99_us"]),
            errors=int(result["non2xx"]) + int(result["socket_errors"]),
            cpu_us=cpu,
        )

    def rounds(
        self,
        targets: Sequence[Target],
        connections: int,
        rounds: int,
        seconds: float,
        warmup: float,
    ) -> dict[str, list[Sample]]:
        """Warm every target up, then `rounds` interleaved runs (the order rotates per round)."""
        for target in targets:
            self.run(target, connections, warmup)
        samples: dict[str, list[Sample]] = {target.name: [] for target in targets}
        for index in range(rounds):
            shift = index % len(targets)
            for target in [*targets[shift:], *targets[:shift]]:
                sample = self.run(target, connections, seconds)
                samples[target.name].append(sample)
                log(
                    f"  {target.name:<16} c{connections:<3} {sample.rps:8.0f} req/s  "
                    f"p50 {sample.p50_us / 1000:6.2f} ms  p99 {sample.p99_us / 1000:6.2f} ms"
                    + (f"  ERRORS {sample.errors}" if sample.errors else "")
                )
        return samples


# --- the machine -------------------------------------------------------------------------------


def _busy_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


@dataclass
class MachineLoad:
    """How busy the machine was, and how much of that was not the benchmark."""

    start: tuple[int, int] = field(default_factory=_busy_jiffies)
    start_ours: float = 0.0
    started: float = field(default_factory=time.monotonic)

    @staticmethod
    def ours() -> float:
        own = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime

    def others_cores(self, procs: Sequence[Proc]) -> float:
        """Average cores used by processes other than the benchmark's since the start."""
        busy, _total = _busy_jiffies()
        tick = os.sysconf("SC_CLK_TCK")
        elapsed = time.monotonic() - self.started
        ours = self.ours() - self.start_ours + sum(proc.cpu_seconds() for proc in procs)
        return max(0.0, ((busy - self.start[0]) / tick - ours) / elapsed) if elapsed else 0.0


def machine() -> dict[str, str]:
    """What the results were measured on."""
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = psutil.virtual_memory().total / 2**30
    uname = os.uname()
    return {
        "cpu": f"{cpu}, {os.cpu_count()} logical cores",
        "memory": f"{memory:.1f} GiB",
        "os": f"{uname.sysname} {uname.release} ({uname.machine})",
        "python": sys.version.split()[0],
    }


def versions(packages: Sequence[str]) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in packages:
        with contextlib.suppress(PackageNotFoundError):
            found[package] = version(package)
    return found


@contextlib.contextmanager
def timed(label: str) -> Iterator[None]:
    began = time.monotonic()
    log(f"{label} ...")
    yield
    log(f"{label}: {time.monotonic() - began:.0f} s")
