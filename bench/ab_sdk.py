"""A/B of two versions of the SDK's code, side by side, against the bare grpc.aio servicer.

    cp -r sdk_python/jetactions /tmp/before/      # the version to compare with, before a change
    .venv/bin/python -m bench.ab_sdk /tmp/before --rounds 4
    .venv/bin/python -m bench.ab_sdk sdk_python --after-env NAME=VALUE   # same code, an env

The example shop runs twice, once from each tree (the same examples/python/shop.py), next to
bench/servers.py's `bare` servicer; bench/grpc_load.py drives the async (`mail_users`) and the
sync (`refresh_stats`) action of each in interleaved rounds. It prints the server's and the
load generator's CPU per call (from /proc), and each shop's ratio to the bare servicer: the
`floors` scenario's checks, for both versions in one run.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Sequence
from pathlib import Path

from bench import harness
from bench.harness import ROOT, VENV_BIN, GrpcTarget, Proc, Processes, Runner, free_port
from bench.stack import EXECUTE_PARAMS, SYNC_PARAMS

SHOP = ROOT / "examples" / "python" / "shop.py"
KINDS = {"async": EXECUTE_PARAMS, "sync": SYNC_PARAMS}


def _shop_argv(package_parent: Path, port: int) -> list[str]:
    # The SDK's code is imported from `package_parent` (a directory holding jetactions/).
    boot = (
        f"import sys, runpy; sys.path.insert(0, {str(package_parent)!r}); "
        f"runpy.run_path({str(SHOP)!r}, run_name='__main__')"
    )
    return [str(VENV_BIN / "python"), "-c", boot, "--address", f"127.0.0.1:{port}"]


def _bare_argv(port: int) -> list[str]:
    return [str(VENV_BIN / "python"), "-m", "bench.servers", "bare", "--port", str(port)]


def _start(
    procs: Processes, name: str, argv: list[str], port: int, env: dict[str, str]
) -> tuple[Proc, str]:
    proc = procs.start(name, argv, env)
    harness.wait_port(proc, port)
    return proc, f"127.0.0.1:{port}"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ab_sdk")
    parser.add_argument("before", type=Path, help="directory that holds the 'before' jetactions/")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--kinds", default="async,sync")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--after-env", action="append", default=[], metavar="NAME=VALUE", help="for 'after' only"
    )
    args = parser.parse_args(argv)
    after_env = dict(item.split("=", 1) for item in args.after_env)
    with Processes() as procs:
        servers: dict[str, tuple[Proc, str]] = {}
        for name, parent, env in (
            ("before", args.before.resolve(), {}),
            ("after", ROOT / "sdk_python", after_env),
        ):
            port = free_port()
            servers[name] = _start(procs, f"ab-sdk-{name}", _shop_argv(parent, port), port, env)
        port = free_port()
        servers["bare"] = _start(procs, "ab-sdk-bare", _bare_argv(port), port, {})
        runner = Runner(harness.ensure_wrk())
        for kind in args.kinds.split(","):
            targets = [
                GrpcTarget(f"{kind}-{name}", address, KINDS[kind], (proc,))
                for name, (proc, address) in servers.items()
            ]
            samples = runner.rounds(
                targets, args.concurrency, args.rounds, args.seconds, min(args.seconds, 2)
            )
            cpu: dict[str, list[float]] = {}
            for target in targets:
                runs = samples[target.name]
                cpu[target.name] = [s.cpu_us[target.procs[0].name] for s in runs]
                loadgen = statistics.median(s.cpu_us["loadgen"] for s in runs)
                print(
                    f"{target.name:14} {statistics.median(s.rps for s in runs):8.0f} calls/s  "
                    f"p50 {statistics.median(s.p50_us for s in runs) / 1000:6.3f} ms  "
                    f"server CPU {statistics.median(cpu[target.name]):6.1f} µs/call  "
                    f"load generator {loadgen:6.1f} µs/call",
                    flush=True,
                )
            bare = cpu[f"{kind}-bare"]
            for name in ("before", "after"):
                # Paired by round: both ran within seconds of each other, on the same load.
                ratios = [s / b for s, b in zip(cpu[f"{kind}-{name}"], bare, strict=True)]
                print(
                    f"  {kind}-{name} / bare: {statistics.median(ratios):.3f} "
                    f"(rounds: {', '.join(f'{r:.2f}' for r in ratios)})",
                    flush=True,
                )


if __name__ == "__main__":
    main()
