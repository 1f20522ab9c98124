"""The bridge in front of the Go example shop against the reference (issue 14).

The Go shop costs a few tens of µs per call, so the bridge is the busiest process: this is the
bridge's own throughput against the reference's, with one worker and with `--workers 2`. Both
sides run on uvloop: the bridge does by default, the reference here with PEER_UVLOOP=1.
"""

from __future__ import annotations

from bench.harness import HttpTarget, Proc, Runner, Target, free_port, timed
from bench.model import Options, Results, info_check, p50, ratio_check, rps
from bench.stack import EXECUTE, MAILED, Setup, check_answer, supports

WHAT_C32 = (
    "execute_action, concurrency 32: throughput, bridge in front of the Go shop / reference, "
    "both on uvloop"
)
WHAT_WORKERS = (
    "execute_action, concurrency 32: throughput, bridge --workers 2 in front of the Go shop "
    "/ reference, both on uvloop"
)


def run(setup: Setup, runner: Runner, results: Results, options: Options) -> None:
    go = setup.go_shop()
    if go is None or "reference" not in setup.started:
        why = "Go is not installed" if go is None else "the reference is not installed"
        results.skip("go-c32", "go", WHAT_C32, why)
        return
    go_shop, go_port = go
    headers = setup.auth.bearer_headers()
    service = [f"shop=127.0.0.1:{go_port}"]
    bridge, bridge_url = setup.bridge("bridge-go", service)
    setup.ready("bridge-go", headers, lambda body: len(body) == 5)
    check_answer(bridge_url, headers, MAILED)
    peer, peer_url = _reference_on_uvloop(setup)
    plain, plain_url = setup.started["reference"]
    targets: list[Target] = [
        HttpTarget("go-bridge", bridge_url, EXECUTE, headers, (bridge, go_shop)),
        HttpTarget("go-reference", peer_url, EXECUTE, headers, (peer,)),
        # The reference as it ships (asyncio's own loop), for comparison.
        HttpTarget("go-reference-asyncio", plain_url, EXECUTE, headers, (plain,)),
    ]
    workers = supports("--workers")
    two = None
    if workers:
        two, two_url = setup.bridge("bridge-go-workers2", service, ["--workers", "2"])
        setup.ready("bridge-go-workers2", headers, lambda body: len(body) == 5)
        check_answer(two_url, headers, MAILED)
        targets.append(HttpTarget("go-workers2", two_url, EXECUTE, headers, (two, go_shop)))
    with timed("go: the bridge in front of the Go shop vs the reference, concurrency 32"):
        samples = runner.rounds(targets, 32, options.rounds, options.seconds, options.warmup)
    results.add(samples, 32)
    with timed("go: the bridge in front of the Go shop vs the reference, concurrency 1"):
        samples = runner.rounds(targets[:3], 1, options.rounds, options.seconds, options.warmup)
    results.add(samples, 1)
    ratio_check(
        results,
        "go-c32",
        "go",
        WHAT_C32,
        ("go-bridge", 32),
        ("go-reference", 32),
        rps,
        2.7,
        True,
        "req/s",
    )
    if two is not None:
        ratio_check(
            results,
            "go-workers2",
            "go",
            WHAT_WORKERS,
            ("go-workers2", 32),
            ("go-reference", 32),
            rps,
            3.5,
            True,
            "req/s",
        )
        two.stop()
    else:
        results.skip("go-workers2", "go", WHAT_WORKERS, "`jetbridge serve` has no --workers")
    info_check(
        results,
        "go-c1",
        "go",
        "execute_action, concurrency 1: p50 latency, bridge in front of the Go shop / reference "
        "on uvloop",
        ("go-bridge", 1),
        ("go-reference", 1),
        p50,
        "ms",
    )
    info_check(
        results,
        "go-c32-asyncio",
        "go",
        "execute_action, concurrency 32: throughput, bridge in front of the Go shop / reference "
        "on asyncio's loop (as it ships)",
        ("go-bridge", 32),
        ("go-reference-asyncio", 32),
        rps,
        "req/s",
    )
    peer.stop()


def _reference_on_uvloop(setup: Setup) -> tuple[Proc, str]:
    plain, _url = setup.started["reference"]
    port = free_port()
    env = {**plain.env, "PORT": str(port), "PEER_UVLOOP": "1"}
    peer = setup.procs.start("reference-uvloop", plain.argv, env)
    url = f"http://127.0.0.1:{port}/api/messages/"
    setup.started["reference-uvloop"] = (peer, url)
    headers = setup.auth.bearer_headers()
    setup.ready("reference-uvloop", headers, lambda body: len(body) == 2)
    check_answer(url, headers, {"result": True})
    return peer, url
