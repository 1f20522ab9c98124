"""The cost of authentication: JWT-authenticated against auth disabled (issue 6, scenario 4)."""

from __future__ import annotations

from bench.harness import HttpTarget, Runner, Target, timed
from bench.model import Options, Results, ratio_check, rps
from bench.stack import ACTION_LIST, EXECUTE, JSON_TYPE, MAILED, Setup, check_answer


def run(setup: Setup, runner: Runner, results: Results, options: Options) -> None:
    bridge, bridge_url = setup.started["bridge"]
    noauth, noauth_url = setup.started["bridge-noauth"]
    jwt_headers = setup.auth.jwt_headers()
    plain = {"Content-Type": JSON_TYPE}
    check_answer(bridge_url, jwt_headers, MAILED)
    check_answer(noauth_url, plain, MAILED)
    targets: list[Target] = [
        HttpTarget("jwt-execute", bridge_url, EXECUTE, jwt_headers, (bridge, setup.shop)),
        HttpTarget("noauth-execute", noauth_url, EXECUTE, plain, (noauth, setup.shop)),
        HttpTarget("jwt-list", bridge_url, ACTION_LIST, jwt_headers, (bridge,)),
        HttpTarget("noauth-list", noauth_url, ACTION_LIST, plain, (noauth,)),
    ]
    with timed("auth: JWT-authenticated vs unauthenticated"):
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
