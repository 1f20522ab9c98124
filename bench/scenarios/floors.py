"""Each of our processes against the floor of the parts it is built from (issue 14).

- The bridge (as shipped, and without its access log) against a minimal aiohttp -> grpc.aio
  forwarder (bench/servers.py `forward`), all in front of the Python shop, wrk at concurrency
  32: CPU per request of the HTTP process.
- The SDK server (the example shop) with an async handler (`mail_users`) and a sync one
  (`refresh_stats`), against a bare grpc.aio servicer answering a constant (`bare`), on the same
  ExecuteAction requests from the direct gRPC client: CPU per call of the server process.
"""

from __future__ import annotations

from bench.harness import GrpcTarget, HttpTarget, Runner, Target, timed, wait_http
from bench.model import Options, Results, cpu, info_check, ratio_check
from bench.stack import (
    EXECUTE,
    EXECUTE_PARAMS,
    MAILED,
    SYNC_PARAMS,
    Setup,
    check_answer,
    supports,
)
from jetbridge._entry import OLDER_IO_PATH


def run(setup: Setup, runner: Runner, results: Results, options: Options) -> None:
    headers = setup.auth.bearer_headers()
    bridge, bridge_url = setup.started["bridge"]
    shop = f"127.0.0.1:{setup.shop_port}"
    # The forwarder runs on the I/O path the `jetbridge` command picks, as the bridge does.
    forwarder, forward_port = setup.helper(
        "forwarder", "forward", "--target", shop, env={"GRPC_EXPERIMENTS": OLDER_IO_PATH}
    )
    forward_url = f"http://127.0.0.1:{forward_port}/api/messages/"
    wait_http(forwarder, forward_url, EXECUTE, headers)
    check_answer(forward_url, headers, MAILED)
    # The bridge as shipped logs every request; the forwarder logs nothing: both are shown.
    quiet = None
    if supports("--no-access-log"):
        quiet, quiet_url = setup.bridge("bridge-quiet", [f"shop={shop}"], ["--no-access-log"])
        setup.ready("bridge-quiet", headers, lambda body: len(body) == 5)
        check_answer(quiet_url, headers, MAILED)
    bare, bare_port = setup.helper("bare", "bare")
    bare_address = f"127.0.0.1:{bare_port}"
    targets: list[Target] = [
        HttpTarget("floor-bridge", bridge_url, EXECUTE, headers, (bridge, setup.shop)),
        HttpTarget("forwarder", forward_url, EXECUTE, headers, (forwarder, setup.shop)),
        GrpcTarget("sdk-async", shop, EXECUTE_PARAMS, (setup.shop,)),
        GrpcTarget("bare-async", bare_address, EXECUTE_PARAMS, (bare,)),
        GrpcTarget("sdk-sync", shop, SYNC_PARAMS, (setup.shop,)),
        GrpcTarget("bare-sync", bare_address, SYNC_PARAMS, (bare,)),
    ]
    if quiet is not None:
        targets.insert(
            1, HttpTarget("floor-quiet", quiet_url, EXECUTE, headers, (quiet, setup.shop))
        )
    with timed("floors: the bridge and the SDK against the parts they are built from"):
        samples = runner.rounds(targets, 32, options.rounds, options.seconds, options.warmup)
    results.add(samples, 32)
    ratio_check(
        results,
        "floor-bridge",
        "floors",
        "execute_action, concurrency 32: bridge CPU per request / minimal aiohttp->grpc.aio "
        "forwarder's",
        ("floor-bridge", 32),
        ("forwarder", 32),
        cpu("bridge"),
        1.1,
        False,
        "µs",
        cpu("forwarder"),
    )
    if quiet is not None:
        info_check(
            results,
            "floor-bridge-quiet",
            "floors",
            "execute_action, concurrency 32: bridge CPU per request without its access log "
            "(--no-access-log) / minimal forwarder's",
            ("floor-quiet", 32),
            ("forwarder", 32),
            cpu("bridge-quiet"),
            "µs",
            cpu("forwarder"),
        )
        quiet.stop()
    for kind, handler, bound in (("async", "mail_users", 1.1), ("sync", "refresh_stats", 1.3)):
        ratio_check(
            results,
            f"floor-sdk-{kind}",
            "floors",
            f"ExecuteAction, concurrency 32: SDK server CPU per call, {kind} handler "
            f"(`{handler}`) / bare grpc.aio servicer's",
            (f"sdk-{kind}", 32),
            (f"bare-{kind}", 32),
            cpu("shop"),
            bound,
            False,
            "µs",
            cpu("bare"),
        )
    forwarder.stop()
    bare.stop()
