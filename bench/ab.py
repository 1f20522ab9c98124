"""A/B of two versions of the bridge's code, side by side: how the optimisations were measured.

    cp -r bridge/jetbridge /tmp/before/           # the version to compare with, before a change
    .venv/bin/python -m bench.ab /tmp/before --rounds 6 --kinds list,jwt-list,exec,exec-c1
    .venv/bin/python -m bench.ab bridge --after-env GRPC_EXPERIMENTS=...   # same code, an env
    .venv/bin/python -m bench.ab bridge --shop go --after-args "--metrics-port FREE"
    .venv/bin/python -m bench.ab forward --shop go --kinds exec   # bench/servers.py's forwarder

Both bridges run in front of one example shop (the Python one, or the Go one with `--shop go`,
where the bridge is the busiest process); every kind of request is measured in interleaved
rounds, and the bridge's CPU per request (from /proc) is printed with throughput and p50.
`FREE` in `--args`, `--before-args` or `--after-args` stands for a free port. `forward` as
the 'before' side is the minimal forwarder (execute_action only), the floor of the bridge.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
from collections.abc import Sequence
from pathlib import Path

from bench import harness
from bench.harness import ROOT, VENV_BIN, HttpTarget, Processes, Runner, free_port, wait_http
from bench.stack import ACTION_LIST, EXECUTE, ensure_go_shop, make_auth

_EXPERIMENTS = "-event_engine_client,-event_engine_callback_cq"


def _bridge_argv(
    package_parent: Path, port: int, shop_port: int, extra: Sequence[str]
) -> list[str]:
    # The bridge's code is imported from `package_parent` (a directory holding jetbridge/).
    boot = (
        f"import sys; sys.path.insert(0, {str(package_parent)!r}); "
        # Both sides on the I/O path the command picks (older trees picked it on import).
        f"import os; os.environ.setdefault('GRPC_EXPERIMENTS', {_EXPERIMENTS!r}); "
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
        *(str(free_port()) if arg == "FREE" else arg for arg in extra),
    ]


def _forwarder_argv(port: int, shop_port: int) -> list[str]:
    python = str(VENV_BIN / "python")
    target = f"127.0.0.1:{shop_port}"
    return [python, "-m", "bench.servers", "forward", "--port", str(port), "--target", target]


def _shop_argv(shop: str, port: int) -> list[str]:
    if shop == "go":
        binary = ensure_go_shop()
        if binary is None:
            raise SystemExit("bench.ab: --shop go needs Go (examples/go/bin/shop)")
        return [str(binary), "--address", f"127.0.0.1:{port}"]
    python = str(VENV_BIN / "python")
    return [python, str(ROOT / "examples/python/shop.py"), "--address", f"127.0.0.1:{port}"]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ab")
    parser.add_argument("before", help="directory that holds the 'before' jetbridge/, or 'forward'")
    parser.add_argument(
        "--after", default=str(ROOT / "bridge"), help="directory of the 'after' jetbridge/"
    )
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--kinds", default="list,jwt-list,exec,exec-c1", help="`-cN`: N conns")
    parser.add_argument("--shop", choices=("python", "go"), default="python")
    parser.add_argument("--args", default="", help="extra `serve` arguments of both bridges")
    parser.add_argument("--before-args", default="", help="extra `serve` arguments of 'before'")
    parser.add_argument("--after-args", default="", help="extra `serve` arguments of 'after'")
    parser.add_argument(
        "--after-env", action="append", default=[], metavar="NAME=VALUE", help="for 'after' only"
    )
    args = parser.parse_args(argv)
    auth = make_auth()
    after_env = dict(item.split("=", 1) for item in args.after_env)
    common = shlex.split(args.args)
    with Processes() as procs:
        shop_port = free_port()
        shop = procs.start("ab-shop", _shop_argv(args.shop, shop_port))
        harness.wait_port(shop, shop_port)
        bridges = {}
        for name, side, extra, env in (
            ("before", args.before, shlex.split(args.before_args), {}),
            ("after", args.after, shlex.split(args.after_args), after_env),
        ):
            port = free_port()
            if side == "forward":
                command = _forwarder_argv(port, shop_port)
                env = {"GRPC_EXPERIMENTS": _EXPERIMENTS, **env}
            else:
                command = _bridge_argv(Path(side).resolve(), port, shop_port, [*common, *extra])
            proc = procs.start(f"ab-{name}", command, {**auth.env(), **env})
            url = f"http://127.0.0.1:{port}/api/messages/"
            wait_http(proc, url, EXECUTE, auth.bearer_headers())
            bridges[name] = (proc, url)
        runner = Runner(harness.ensure_wrk())
        for kind in args.kinds.split(","):
            body = ACTION_LIST if "list" in kind else EXECUTE
            headers = auth.jwt_headers() if "jwt" in kind else auth.bearer_headers()
            # `exec-c8`: concurrency 8; 32 unless a kind says otherwise.
            suffix = kind.rpartition("-c")[2]
            connections = int(suffix) if "-c" in kind and suffix.isdigit() else 32
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
            samples = runner.rounds(targets, connections, args.rounds, args.seconds, 2)
            for target in targets:
                runs = samples[target.name]
                cpu = statistics.median(s.cpu_us[target.procs[0].name] for s in runs)
                shop_cpu = statistics.median(s.cpu_us.get("ab-shop", 0.0) for s in runs)
                print(
                    f"{target.name:18} {statistics.median(s.rps for s in runs):8.0f} req/s  "
                    f"p50 {statistics.median(s.p50_us for s in runs) / 1000:6.3f} ms  "
                    f"bridge CPU {cpu:6.1f} µs/request"
                    + (f"  (shop {shop_cpu:.1f})" if shop_cpu else ""),
                    flush=True,
                )
            before, after = (samples[target.name] for target in targets)
            pairs = list(zip(before, after, strict=True))
            names = targets[0].procs[0].name, targets[1].procs[0].name
            rps = statistics.median(b.rps / a.rps for a, b in pairs)
            cpu = statistics.median(b.cpu_us[names[1]] / a.cpu_us[names[0]] for a, b in pairs)
            p50 = statistics.median(b.p50_us / a.p50_us for a, b in pairs)
            print(
                f"  after/before (median of paired rounds): throughput {rps:.3f}, "
                f"bridge CPU per request {cpu:.3f}, p50 {p50:.3f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
