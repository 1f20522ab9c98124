"""A/B of two versions of the bridge's code, side by side: how the optimisations were measured.

    cp -r bridge/jetbridge /tmp/before/           # the version to compare with, before a change
    .venv/bin/python -m bench.ab /tmp/before --rounds 6 --kinds list,jwt-list,exec,exec-c1
    .venv/bin/python -m bench.ab bridge --after-env GRPC_EXPERIMENTS=...   # same code, an env

Both bridges run in front of one example shop; every kind of request is measured in interleaved
rounds, and the bridge's CPU per request (from /proc) is printed with throughput and p50.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Sequence
from pathlib import Path

from bench import harness
from bench.harness import ROOT, VENV_BIN, HttpTarget, Processes, Runner, free_port, wait_http
from bench.stack import ACTION_LIST, EXECUTE, make_auth


def _bridge_argv(package_parent: Path, port: int, shop_port: int) -> list[str]:
    # The bridge's code is imported from `package_parent` (a directory holding jetbridge/).
    boot = (
        f"import sys; sys.path.insert(0, {str(package_parent)!r}); "
        # Both sides on the I/O path the command picks (older trees picked it on import).
        "import os; os.environ.setdefault('GRPC_EXPERIMENTS', "
        "'-event_engine_client,-event_engine_callback_cq'); "
        "from jetbridge.cli import main; main()"
    )
    return [
        str(VENV_BIN / "python"),
        "-c",
        boot,
        "serve",
        "--address",
        "127.0.0.1",
        "--port",
        str(port),
        "--service",
        f"shop=127.0.0.1:{shop_port}",
        "--log-level",
        "WARNING",
    ]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ab")
    parser.add_argument("before", type=Path, help="directory that holds the 'before' jetbridge/")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--kinds", default="list,jwt-list,exec,exec-c1")
    parser.add_argument(
        "--after-env", action="append", default=[], metavar="NAME=VALUE", help="for 'after' only"
    )
    args = parser.parse_args(argv)
    auth = make_auth()
    after_env = dict(item.split("=", 1) for item in args.after_env)
    with Processes() as procs:
        shop_port = free_port()
        shop = procs.start(
            "ab-shop",
            [
                str(VENV_BIN / "python"),
                str(ROOT / "examples/python/shop.py"),
                "--address",
                f"127.0.0.1:{shop_port}",
            ],
        )
        harness.wait_port(shop, shop_port)
        bridges = {}
        for name, parent, env in (
            ("before", args.before.resolve(), {}),
            ("after", ROOT / "bridge", after_env),
        ):
            port = free_port()
            proc = procs.start(
                f"ab-{name}", _bridge_argv(parent, port, shop_port), {**auth.env(), **env}
            )
            url = f"http://127.0.0.1:{port}/api/messages/"
            wait_http(proc, url, ACTION_LIST, auth.bearer_headers())
            bridges[name] = (proc, url)
        runner = Runner(harness.ensure_wrk())
        for kind in args.kinds.split(","):
            body = ACTION_LIST if "list" in kind else EXECUTE
            headers = auth.jwt_headers() if "jwt" in kind else auth.bearer_headers()
            connections = 1 if kind.endswith("c1") else 32
            targets = [
                HttpTarget(
                    f"{kind}-{name}",
                    url,
                    body,
                    headers,
                    (proc, shop) if body is EXECUTE else (proc,),
                )
                for name, (proc, url) in bridges.items()
            ]
            samples = runner.rounds(targets, connections, args.rounds, 3, 2)
            for target in targets:
                runs = samples[target.name]
                cpu = statistics.median(s.cpu_us[target.procs[0].name] for s in runs)
                print(
                    f"{target.name:18} {statistics.median(s.rps for s in runs):8.0f} req/s  "
                    f"p50 {statistics.median(s.p50_us for s in runs) / 1000:6.3f} ms  "
                    f"bridge CPU {cpu:6.1f} µs/request",
                    flush=True,
                )
            before, after = (samples[target.name] for target in targets)
            ratio = statistics.median(b.rps / a.rps for a, b in zip(before, after, strict=True))
            print(f"  after/before throughput (median of paired rounds): {ratio:.3f}", flush=True)


if __name__ == "__main__":
    main()
