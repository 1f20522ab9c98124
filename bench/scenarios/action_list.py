"""get_action_list against a constant aiohttp handler, with 1 and 10 slow action servers
(issue 6, scenario 3): the HTTP ceiling, and a list that does not depend on the servers."""

from __future__ import annotations

from bench.harness import (
    OUT,
    VENV_BIN,
    HttpTarget,
    Runner,
    Target,
    free_port,
    timed,
    wait_http,
    wait_port,
)
from bench.model import Check, Options, Results, ratio_check, rps
from bench.stack import ACTION_LIST, Setup

SLOW_SERVERS = 10
SLOW_DELAY = 1.0


def run(setup: Setup, runner: Runner, results: Results, options: Options) -> None:
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
    with timed("action list: get_action_list with 1 and 10 slow action servers"):
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
