"""`--workers 2` against one worker, in front of the Python shop (issue 6, scenario 6)."""

from __future__ import annotations

from bench.harness import HttpTarget, Runner, Target, timed
from bench.model import Options, Results, info_check, rps
from bench.stack import EXECUTE, MAILED, Setup, check_answer, supports


def run(setup: Setup, runner: Runner, results: Results, options: Options) -> None:
    what = "execute_action, concurrency 32: throughput, --workers 2 / --workers 1"
    if not supports("--workers"):
        results.skip("s6", "6", what, "`jetbridge serve` has no --workers option")
        return
    headers = setup.auth.bearer_headers()
    bridge, bridge_url = setup.started["bridge"]
    two, two_url = setup.bridge(
        "bridge-workers2", [f"shop=127.0.0.1:{setup.shop_port}"], ["--workers", "2"]
    )
    setup.ready("bridge-workers2", headers, lambda body: len(body) > 0)
    check_answer(two_url, headers, MAILED)
    targets: list[Target] = [
        HttpTarget("workers-1", bridge_url, EXECUTE, headers, (bridge, setup.shop)),
        HttpTarget("workers-2", two_url, EXECUTE, headers, (two, setup.shop)),
    ]
    with timed("workers: --workers 1 vs --workers 2"):
        samples = runner.rounds(targets, 32, options.rounds, options.seconds, options.warmup)
    results.add(samples, 32)
    info_check(results, "s6", "6", what, ("workers-2", 32), ("workers-1", 32), rps, "req/s")
    two.stop()
