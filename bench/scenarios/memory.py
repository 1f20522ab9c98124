"""The bridge's memory under a long execute_action load (issue 6, scenario 5)."""

from __future__ import annotations

import time

from bench.harness import HttpTarget, Runner, log, timed
from bench.model import Check, Options, Results
from bench.stack import EXECUTE, Setup


def run(setup: Setup, runner: Runner, results: Results, options: Options) -> None:
    proc, url = setup.bridge("bridge-memory", [f"shop=127.0.0.1:{setup.shop_port}"])
    setup.ready("bridge-memory", setup.auth.bearer_headers(), lambda body: len(body) > 0)
    time.sleep(1.0)  # not synchronisation: RSS is read once start-up's allocations settled
    start = proc.rss()
    results.memory_start = start
    target = HttpTarget("memory", url, EXECUTE, setup.auth.bearer_headers(), (proc, setup.shop))
    total = 0
    loaded = 0.0
    chunk = max(1.0, min(5.0, options.memory_seconds // 4))
    with timed("memory under load"):
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
