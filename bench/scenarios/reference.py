"""The bridge (gRPC to the Python shop, and in-process) against the reference jet-bridge and
against a direct grpc.aio client, the ceiling of its gRPC hop (issue 6, scenarios 1 and 2)."""

from __future__ import annotations

from bench.harness import GrpcTarget, HttpTarget, Runner, Target, timed
from bench.model import Options, Results, info_check, p50, p99, ratio_check, rps
from bench.stack import EXECUTE, EXECUTE_PARAMS, Setup


def run(setup: Setup, runner: Runner, results: Results, options: Options) -> None:
    with_peer = "reference" in setup.started
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
        with timed(f"reference: execute_action at concurrency {connections}"):
            samples = runner.rounds(
                targets, connections, options.rounds, options.seconds, options.warmup
            )
        results.add(samples, connections)
    if with_peer:
        _versus_reference(results)
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


def _versus_reference(results: Results) -> None:
    ratio_check(
        results,
        "s1-c32",
        "1",
        "execute_action, concurrency 32: throughput, bridge (gRPC to the Python shop) / reference",
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
    # Issue 14: no click may be slower than with the reference (issue 6 asked 1.3 times).
    ratio_check(
        results,
        "s1-c1",
        "1",
        "execute_action, concurrency 1: p50 latency, bridge (gRPC to the Python shop) / reference",
        ("bridge", 1),
        ("reference", 1),
        p50,
        1.0,
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
        "execute_action, concurrency 1: p50 latency, bridge with the shop in-process / reference",
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
