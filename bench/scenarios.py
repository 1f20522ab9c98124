"""The benchmark's scenarios and targets (issue 6), and the command that runs them.

Every comparison is a ratio of two targets measured in the same run, in interleaved rounds
(the order rotates each round) after a warm-up; the ratio reported is the median of the
per-round ratios, so slow drifts of a shared machine cancel out. See bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import pickle
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bench import harness, profile, report
from bench.harness import (
    BENCH,
    OUT,
    ROOT,
    VENV_BIN,
    GrpcTarget,
    HttpTarget,
    MachineLoad,
    Proc,
    Processes,
    Runner,
    Sample,
    Target,
    free_port,
    log,
    timed,
    wait_http,
    wait_port,
)

SHOP = ROOT / "examples" / "python" / "shop.py"
INPROCESS_SHOP = "inprocess:examples/python/shop.py:build_app"
PROJECT = "bench"
JSON_TYPE = "application/json;charset=utf-8"  # what Jet Admin's front end sends

EXECUTE_PARAMS: dict[str, Any] = {
    "model": "users",
    "name": "mail_users",
    "ids": [1, 2],
    "inverseIds": False,
    "params": {"subject": "Hello"},
}
EXECUTE = json.dumps({"name": "execute_action", "params": EXECUTE_PARAMS}).encode()
ACTION_LIST = json.dumps({"name": "get_action_list"}).encode()
LAST_RUN = OUT / "last-run.pickle"
SLOW_SERVERS = 10
SLOW_DELAY = 1.0


@dataclass(frozen=True)
class Options:
    rounds: int
    seconds: float
    warmup: float
    memory_requests: int
    memory_seconds: float
    profile: bool
    output: Path
    only: frozenset[str]


@dataclass
class Check:
    """One target of the issue: a measured ratio against a bound."""

    key: str
    scenario: str
    what: str
    ratio: float | None
    bound: str
    met: bool | None
    """None: not measured (pending)."""
    detail: str
    rounds: list[float] = field(default_factory=list)


@dataclass
class Results:
    started: datetime.datetime
    options: Options
    samples: dict[tuple[str, int], list[Sample]] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    memory: list[tuple[int, float, int]] = field(default_factory=list)
    """(requests so far, seconds of load so far, RSS bytes) of the memory scenario."""
    memory_start: int = 0
    profiles: dict[str, list[profile.Profile]] = field(default_factory=dict)
    commands: dict[str, list[str]] = field(default_factory=dict)
    servers: dict[str, str] = field(default_factory=dict)
    others_cores: float = 0.0
    notes: list[str] = field(default_factory=list)
    elapsed: float = 0.0

    def add(self, samples: Mapping[str, list[Sample]], connections: int) -> None:
        for name, items in samples.items():
            self.samples[(name, connections)] = items


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def paired(
    a: Sequence[Sample], b: Sequence[Sample], metric: Callable[[Sample], float]
) -> list[float]:
    """Per-round ratios metric(a)/metric(b); rounds were interleaved, so each pair is close
    in time."""
    return [metric(x) / metric(y) for x, y in zip(a, b, strict=True) if metric(y)]


def rps(sample: Sample) -> float:
    return sample.rps


def p50(sample: Sample) -> float:
    return sample.p50_us


def p99(sample: Sample) -> float:
    return sample.p99_us


def ratio_check(
    results: Results,
    key: str,
    scenario: str,
    what: str,
    a: tuple[str, int],
    b: tuple[str, int],
    metric: Callable[[Sample], float],
    bound: float,
    at_least: bool,
    unit: str,
) -> Check:
    ratios = paired(results.samples[a], results.samples[b], metric)
    ratio = _median(ratios)
    met = ratio >= bound if at_least else ratio <= bound
    scale = 1000.0 if unit == "ms" else 1.0
    value_a = _median([metric(s) for s in results.samples[a]]) / scale
    value_b = _median([metric(s) for s in results.samples[b]]) / scale
    fmt = "{:.0f}" if unit == "req/s" else "{:.3f}"
    detail = f"{a[0]} {fmt.format(value_a)} {unit} vs {b[0]} {fmt.format(value_b)} {unit}"
    check = Check(
        key, scenario, what, ratio, f"{'≥' if at_least else '≤'} {bound:g}×", met, detail, ratios
    )
    results.checks.append(check)
    return check


def info_check(
    results: Results,
    key: str,
    scenario: str,
    what: str,
    a: tuple[str, int],
    b: tuple[str, int],
    metric: Callable[[Sample], float],
    unit: str,
) -> Check:
    """A measured ratio the issue sets no bound on."""
    check = ratio_check(results, key, scenario, what, a, b, metric, 0.0, True, unit)
    check.bound, check.met = "(no target)", None
    return check


# --- setup -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Auth:
    bearer: str
    jwt_token: str
    public_pem: str

    def env(self) -> dict[str, str]:
        return {
            "BEARER_AUTH_KEY": self.bearer,
            "PROJECT": PROJECT,
            "JWT_VERIFY_KEY": self.public_pem,
        }

    def bearer_headers(self) -> dict[str, str]:
        return {"Content-Type": JSON_TYPE, "Authorization": f"Bearer {self.bearer}"}

    def jwt_headers(self) -> dict[str, str]:
        return {"Content-Type": JSON_TYPE, "Authorization": f"JWT {self.jwt_token}"}


def make_auth() -> Auth:
    """A Bearer key, and a JWT as Jet Admin issues them (RS256, 4096-bit key like Jet's)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    claims = {
        "user": {"id": 7, "email": "bench@example.com"},
        "project": PROJECT,
        "environment": "prod",
        "projects": {PROJECT: {"permissions_group": "admin"}},
        "exp": int(time.time()) + 24 * 3600,
    }
    token = jwt.encode(claims, key, algorithm="RS256")
    return Auth(secrets.token_hex(16), token, public_pem)


def supports_workers() -> bool:
    done = subprocess.run(
        [str(VENV_BIN / "jetbridge"), "serve", "--help"], capture_output=True, check=False
    )
    return b"--workers" in done.stdout


@dataclass
class Setup:
    procs: Processes
    auth: Auth
    shop: Proc
    shop_port: int
    peer_python: Path
    started: dict[str, tuple[Proc, str]] = field(default_factory=dict)
    """name -> (process, messages URL)"""

    def bridge(
        self,
        name: str,
        services: Sequence[str],
        extra_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> tuple[Proc, str]:
        port = free_port()
        argv = [str(VENV_BIN / "jetbridge"), "serve", "--address", "127.0.0.1"]
        argv += ["--port", str(port)]
        for item in services:
            argv += ["--service", item]
        argv += list(extra_args)
        proc = self.procs.start(name, argv, {**self.auth.env(), **(env or {})})
        url = f"http://127.0.0.1:{port}/api/messages/"
        self.started[name] = (proc, url)
        return proc, url

    def ready(self, name: str, headers: Mapping[str, str], expect: Callable[[Any], bool]) -> bytes:
        proc, url = self.started[name]
        body = wait_http(proc, url, ACTION_LIST, headers)
        if not expect(json.loads(body)):
            raise RuntimeError(f"{name}: unexpected action list {body[:300]!r}")
        return body


def check_answer(url: str, headers: Mapping[str, str], expected: Any) -> None:
    """The message is answered as it should be before anything is measured."""
    status, body = harness.post(url, EXECUTE, headers)
    if status != 200 or json.loads(body) != expected:
        raise RuntimeError(f"{url} answered {status} {body[:300]!r}, expected {expected}")


# --- scenarios ---------------------------------------------------------------------------------


def scenario_1_2(
    setup: Setup, runner: Runner, results: Results, options: Options, with_peer: bool
) -> None:
    bridge, bridge_url = setup.started["bridge"]
    inproc, inproc_url = setup.started["in-process"]
    headers = setup.auth.bearer_headers()
    targets: list[Target] = [
        HttpTarget("bridge", bridge_url, EXECUTE, headers, (bridge, setup.shop)),
        HttpTarget("in-process", inproc_url, EXECUTE, headers, (inproc,)),
        GrpcTarget("direct-grpc", f"127.0.0.1:{setup.shop_port}", EXECUTE_PARAMS, (setup.shop,)),
    ]
    if with_peer:
        peer, peer_url = setup.started["reference"]
        targets.insert(1, HttpTarget("reference", peer_url, EXECUTE, headers, (peer,)))
    for connections in (32, 1):
        with timed(f"scenarios 1 and 2, execute_action at concurrency {connections}"):
            samples = runner.rounds(
                targets, connections, options.rounds, options.seconds, options.warmup
            )
        results.add(samples, connections)
    if with_peer:
        ratio_check(
            results,
            "s1-c32",
            "1",
            "execute_action, concurrency 32: throughput, bridge (gRPC to the Python shop) "
            "/ reference",
            ("bridge", 32),
            ("reference", 32),
            rps,
            3.0,
            True,
            "req/s",
        )
        info_check(
            results,
            "s1-c32-p99",
            "1",
            "execute_action, concurrency 32: p99 latency, bridge / reference",
            ("bridge", 32),
            ("reference", 32),
            p99,
            "ms",
        )
        ratio_check(
            results,
            "s1-c1",
            "1",
            "execute_action, concurrency 1: p50 latency, bridge / reference",
            ("bridge", 1),
            ("reference", 1),
            p50,
            1.3,
            False,
            "ms",
        )
        info_check(
            results,
            "s1-c1-p99",
            "1",
            "execute_action, concurrency 1: p99 latency, bridge / reference",
            ("bridge", 1),
            ("reference", 1),
            p99,
            "ms",
        )
        ratio_check(
            results,
            "inprocess-c1",
            "in-process",
            "execute_action, concurrency 1: p50 latency, bridge with the shop in-process "
            "/ reference",
            ("in-process", 1),
            ("reference", 1),
            p50,
            0.8,
            False,
            "ms",
        )
        info_check(
            results,
            "inprocess-c32",
            "in-process",
            "execute_action, concurrency 32: throughput, bridge in-process / reference",
            ("in-process", 32),
            ("reference", 32),
            rps,
            "req/s",
        )
    ratio_check(
        results,
        "s2",
        "2",
        "execute_action, concurrency 32: throughput, bridge / a direct grpc.aio client "
        "(the hop's ceiling)",
        ("bridge", 32),
        ("direct-grpc", 32),
        rps,
        0.95,
        True,
        "req/s",
    )
    info_check(
        results,
        "s2-c1",
        "2",
        "execute_action, concurrency 1: p50 latency, bridge / direct grpc.aio client",
        ("bridge", 1),
        ("direct-grpc", 1),
        p50,
        "ms",
    )


def scenario_3(setup: Setup, runner: Runner, results: Results, options: Options) -> None:
    headers = setup.auth.bearer_headers()
    slow_ports = [free_port() for _ in range(SLOW_SERVERS)]
    argv = [str(VENV_BIN / "python"), "-m", "bench.servers", "slow", "--delay", f"{SLOW_DELAY}"]
    for port in slow_ports:
        argv += ["--port", str(port)]
    slow = setup.procs.start("slow-servers", argv)
    for port in slow_ports:
        wait_port(slow, port)
    services = [f"s{index}=127.0.0.1:{port}" for index, port in enumerate(slow_ports)]
    one, one_url = setup.bridge("bridge-1svc", services[:1])
    ten, ten_url = setup.bridge("bridge-10svc", services)
    one_body = setup.ready("bridge-1svc", headers, lambda body: len(body) == 5)
    ten_body = setup.ready("bridge-10svc", headers, lambda body: len(body) == 5 * SLOW_SERVERS)
    (OUT / "list-1.json").write_bytes(one_body)
    (OUT / "list-10.json").write_bytes(ten_body)
    const_port = free_port()
    const = setup.procs.start(
        "constant",
        [
            str(VENV_BIN / "python"),
            "-m",
            "bench.servers",
            "const",
            "--port",
            str(const_port),
            "--route",
            f"/1/={OUT / 'list-1.json'}",
            "--route",
            f"/10/={OUT / 'list-10.json'}",
        ],
    )
    wait_http(const, f"http://127.0.0.1:{const_port}/1/", ACTION_LIST, headers)
    base = f"http://127.0.0.1:{const_port}"
    targets: list[Target] = [
        HttpTarget("constant-1", f"{base}/1/", ACTION_LIST, headers, (const,)),
        HttpTarget("bridge-1svc", one_url, ACTION_LIST, headers, (one,)),
        HttpTarget("constant-10", f"{base}/10/", ACTION_LIST, headers, (const,)),
        HttpTarget("bridge-10svc", ten_url, ACTION_LIST, headers, (ten,)),
    ]
    with timed("scenario 3, get_action_list with 1 and 10 slow action servers"):
        samples = runner.rounds(targets, 32, options.rounds, options.seconds, options.warmup)
    results.add(samples, 32)
    one_check = ratio_check(
        results,
        "s3-1",
        "3",
        "get_action_list, 1 action server: throughput, bridge / constant aiohttp handler",
        ("bridge-1svc", 32),
        ("constant-1", 32),
        rps,
        0.8,
        True,
        "req/s",
    )
    ten_check = ratio_check(
        results,
        "s3-10",
        "3",
        "get_action_list, 10 action servers: throughput, bridge / constant aiohttp handler",
        ("bridge-10svc", 32),
        ("constant-10", 32),
        rps,
        0.8,
        True,
        "req/s",
    )
    # Flat: the bridge's share of the ceiling is the same with 10 servers as with 1.
    assert one_check.ratio is not None
    assert ten_check.ratio is not None
    flat = ten_check.ratio / one_check.ratio
    results.checks.append(
        Check(
            "s3-flat",
            "3",
            "get_action_list: (bridge/constant with 10 servers) / (bridge/constant with 1)",
            flat,
            "≥ 0.9× (flat)",
            flat >= 0.9,
            f"{ten_check.ratio:.2f} with 10 servers vs {one_check.ratio:.2f} with 1; "
            "ListActions takes 1 s on each server",
        )
    )
    for proc in (one, ten, const, slow):
        proc.stop()


def scenario_4(setup: Setup, runner: Runner, results: Results, options: Options) -> None:
    bridge, bridge_url = setup.started["bridge"]
    noauth, noauth_url = setup.started["bridge-noauth"]
    jwt_headers = setup.auth.jwt_headers()
    plain = {"Content-Type": JSON_TYPE}
    check_answer(bridge_url, jwt_headers, {"result": True, "message": "Mailed 2 users"})
    check_answer(noauth_url, plain, {"result": True, "message": "Mailed 2 users"})
    targets: list[Target] = [
        HttpTarget("jwt-execute", bridge_url, EXECUTE, jwt_headers, (bridge, setup.shop)),
        HttpTarget("noauth-execute", noauth_url, EXECUTE, plain, (noauth, setup.shop)),
        HttpTarget("jwt-list", bridge_url, ACTION_LIST, jwt_headers, (bridge,)),
        HttpTarget("noauth-list", noauth_url, ACTION_LIST, plain, (noauth,)),
    ]
    with timed("scenario 4, JWT-authenticated vs unauthenticated"):
        samples = runner.rounds(targets, 32, options.rounds, options.seconds, options.warmup)
    results.add(samples, 32)
    for kind, message in (("execute", "execute_action"), ("list", "get_action_list")):
        ratio_check(
            results,
            f"s4-{kind}",
            "4",
            f"{message}, concurrency 32: throughput, JWT-authenticated / auth disabled",
            (f"jwt-{kind}", 32),
            (f"noauth-{kind}", 32),
            rps,
            0.95,
            True,
            "req/s",
        )


def scenario_5(setup: Setup, runner: Runner, results: Results, options: Options) -> None:
    proc, url = setup.bridge("bridge-memory", [f"shop=127.0.0.1:{setup.shop_port}"])
    setup.ready("bridge-memory", setup.auth.bearer_headers(), lambda body: len(body) > 0)
    time.sleep(1.0)
    start = proc.rss()
    results.memory_start = start
    target = HttpTarget("memory", url, EXECUTE, setup.auth.bearer_headers(), (proc, setup.shop))
    total = 0
    loaded = 0.0
    chunk = max(1.0, min(5.0, options.memory_seconds // 4))
    with timed("scenario 5, memory under load"):
        while loaded < options.memory_seconds or total < options.memory_requests:
            sample = runner.run(target, 32, chunk)
            total += sample.requests
            loaded += sample.seconds
            results.memory.append((total, loaded, proc.rss()))
            log(f"  {total:>8} requests, {loaded:5.1f} s of load: RSS {proc.rss() / 2**20:.1f} MiB")
            if loaded > 3 * options.memory_seconds:
                break
    after = next(((n, s, r) for n, s, r in results.memory if n >= options.memory_requests), None)
    if after is None:
        results.checks.append(
            Check("s5", "5", "RSS growth", None, "< 10 MB", False, "too few requests")
        )
    else:
        growth = (after[2] - start) / 1e6
        results.checks.append(
            Check(
                "s5",
                "5",
                f"bridge RSS growth from start to after {after[0]:,} requests",
                growth,
                "< 10 MB",
                growth < 10,
                f"{start / 2**20:.1f} MiB at start, {after[2] / 2**20:.1f} MiB after "
                f"{after[0]:,} requests, {results.memory[-1][2] / 2**20:.1f} MiB after "
                f"{results.memory[-1][1]:.0f} s of load",
            )
        )
    proc.stop()


def scenario_6(setup: Setup, runner: Runner, results: Results, options: Options) -> None:
    if not supports_workers():
        results.checks.append(
            Check(
                "s6",
                "6",
                "--workers 2 / --workers 1 throughput",
                None,
                "(no target)",
                None,
                "pending: `jetbridge serve` has no --workers option yet",
            )
        )
        return
    headers = setup.auth.bearer_headers()
    bridge, bridge_url = setup.started["bridge"]
    two, two_url = setup.bridge(
        "bridge-workers2", [f"shop=127.0.0.1:{setup.shop_port}"], ["--workers", "2"]
    )
    setup.ready("bridge-workers2", headers, lambda body: len(body) > 0)
    check_answer(two_url, headers, {"result": True, "message": "Mailed 2 users"})
    targets: list[Target] = [
        HttpTarget("workers-1", bridge_url, EXECUTE, headers, (bridge, setup.shop)),
        HttpTarget("workers-2", two_url, EXECUTE, headers, (two, setup.shop)),
    ]
    with timed("scenario 6, --workers 1 vs --workers 2"):
        samples = runner.rounds(targets, 32, options.rounds, options.seconds, options.warmup)
    results.add(samples, 32)
    info_check(
        results,
        "s6",
        "6",
        "execute_action, concurrency 32: throughput, --workers 2 / --workers 1",
        ("workers-2", 32),
        ("workers-1", 32),
        rps,
        "req/s",
    )
    two.stop()


def profiles(setup: Setup, runner: Runner, results: Results, py_spy: Path, seconds: float) -> None:
    """Profile what the unmet targets depend on, under the same load."""
    unmet = {check.key for check in results.checks if check.met is False}
    headers = setup.auth.bearer_headers()
    plans: list[tuple[str, HttpTarget, list[Proc]]] = []
    bridge, bridge_url = setup.started["bridge"]
    if unmet & {"s1-c32", "s1-c1", "s2"}:
        target = HttpTarget("bridge", bridge_url, EXECUTE, headers, (bridge, setup.shop))
        plans.append(("execute_action through the bridge", target, [bridge, setup.shop]))
        if "reference" in setup.started:
            peer, peer_url = setup.started["reference"]
            target = HttpTarget("reference", peer_url, EXECUTE, headers, (peer,))
            plans.append(("execute_action on the reference", target, [peer]))
    if unmet & {"inprocess-c1"}:
        inproc, inproc_url = setup.started["in-process"]
        target = HttpTarget("in-process", inproc_url, EXECUTE, headers, (inproc,))
        plans.append(("execute_action, shop in-process", target, [inproc]))
    if unmet & {"s3-1", "s3-10", "s3-flat"} or unmet & {"s4-list"}:
        target = HttpTarget("bridge-list", bridge_url, ACTION_LIST, headers, (bridge,))
        plans.append(("get_action_list through the bridge", target, [bridge]))
    if unmet & {"s4-execute", "s4-list"}:
        target = HttpTarget(
            "jwt-execute", bridge_url, EXECUTE, setup.auth.jwt_headers(), (bridge, setup.shop)
        )
        plans.append(("execute_action with JWT", target, [bridge]))
    for label, target, procs in plans:
        with timed(f"profiling: {label}"):
            running = profile.record(py_spy, label, procs, seconds)
            time.sleep(0.5)  # py-spy attaches
            runner.run(target, 32, seconds)
            results.profiles[label] = profile.collect(running, label, procs)


def run(options: Options) -> Results:
    results = Results(datetime.datetime.now(datetime.UTC), options)
    began = time.monotonic()
    wrk = harness.ensure_wrk()
    try:
        peer_python: Path | None = harness.ensure_peer()
    except subprocess.CalledProcessError as error:
        results.notes.append(f"the reference server could not be installed: {error}")
        peer_python = None
    py_spy = harness.ensure_profiler() if options.profile else None
    runner = Runner(wrk)
    auth = make_auth()
    load = MachineLoad()
    load.start_ours = MachineLoad.ours()
    with Processes() as procs:
        shop_port = free_port()
        shop = procs.start(
            "shop",
            [str(VENV_BIN / "python"), str(SHOP), "--address", f"127.0.0.1:{shop_port}"],
        )
        wait_port(shop, shop_port)
        setup = Setup(procs, auth, shop, shop_port, peer_python or Path())
        headers = auth.bearer_headers()
        shop_service = [f"shop=127.0.0.1:{shop_port}"]
        setup.bridge("bridge", shop_service)
        setup.bridge("in-process", [f"shop={INPROCESS_SHOP}"])
        setup.bridge("bridge-noauth", shop_service, ["--disable-auth"])
        if peer_python is not None:
            peer_port = free_port()
            peer = procs.start(
                "reference",
                [str(peer_python), str(BENCH / "peer_server.py")],
                {"PORT": str(peer_port), "ADDRESS": "127.0.0.1", "BEARER_AUTH_KEY": auth.bearer},
            )
            setup.started["reference"] = (peer, f"http://127.0.0.1:{peer_port}/api/messages/")
            setup.ready("reference", headers, lambda body: len(body) == 2)
            check_answer(setup.started["reference"][1], headers, {"result": True})
        for name in ("bridge", "in-process"):
            setup.ready(name, headers, lambda body: len(body) == 5)
            check_answer(
                setup.started[name][1], headers, {"result": True, "message": "Mailed 2 users"}
            )
        setup.ready("bridge-noauth", {"Content-Type": JSON_TYPE}, lambda body: len(body) == 5)
        if "1" in options.only or "2" in options.only:
            scenario_1_2(setup, runner, results, options, with_peer=peer_python is not None)
        if "3" in options.only:
            scenario_3(setup, runner, results, options)
        if "4" in options.only:
            scenario_4(setup, runner, results, options)
        if "6" in options.only:
            scenario_6(setup, runner, results, options)
        results.others_cores = load.others_cores(procs.started)
        if "5" in options.only:
            scenario_5(setup, runner, results, options)
        if py_spy is not None:
            profiles(setup, runner, results, py_spy, min(6.0, 2 * options.seconds))
        elif options.profile:
            results.notes.append("py-spy could not be installed: no profiles")
        results.servers = {proc.name: proc.command() for proc in procs.started}
        results.servers.update(
            {name: proc.command() for name, (proc, _url) in setup.started.items()}
        )
    results.commands = runner.commands
    results.elapsed = time.monotonic() - began
    return results


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="bench/run",
        description="The bridge side by side with the reference jet-bridge and its ceilings.",
    )
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per scenario")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of one round")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up per target, s")
    parser.add_argument("--memory-requests", type=int, default=100_000)
    parser.add_argument("--memory-seconds", type=float, default=60.0)
    parser.add_argument("--no-profile", action="store_true", help="skip py-spy profiles")
    parser.add_argument(
        "--quick", action="store_true", help="2 short rounds, small memory run (smoke test)"
    )
    parser.add_argument(
        "--only",
        default="1,2,3,4,5,6",
        help="comma-separated scenarios to run (1 and 2 run together, with the in-process "
        "mode); a partial run writes bench/.out/RESULTS-partial.md unless --output is given",
    )
    parser.add_argument("--output", type=Path)
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="measure nothing: write the report of the last run again (after editing "
        "bench/analysis.md)",
    )
    args = parser.parse_args(argv)
    if args.report_only:
        command, results = pickle.loads(LAST_RUN.read_bytes())
        output = args.output or results.options.output
        print(report.table(results))
        output.write_text(report.markdown(results, command))
        log(f"wrote {output}")
        return
    only = frozenset(part.strip() for part in args.only.split(",") if part.strip())
    if args.output is None:
        full = only >= {"1", "2", "3", "4", "5", "6"}
        args.output = BENCH / "RESULTS.md" if full else OUT / "RESULTS-partial.md"
    options = Options(
        rounds=2 if args.quick else args.rounds,
        seconds=1.0 if args.quick else args.seconds,
        warmup=1.0 if args.quick else args.warmup,
        memory_requests=5_000 if args.quick else args.memory_requests,
        memory_seconds=4.0 if args.quick else args.memory_seconds,
        profile=not args.no_profile,
        output=args.output,
        only=only,
    )
    results = run(options)
    command = " ".join(["bench/run", *(argv if argv is not None else sys.argv[1:])])
    # Kept so that the report can be written again without measuring (--report-only).
    LAST_RUN.write_bytes(pickle.dumps((command, results)))
    print(report.table(results))
    args.output.write_text(report.markdown(results, command))
    log(f"wrote {args.output}")
