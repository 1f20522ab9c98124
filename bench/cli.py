"""`bench/run` (`python -m bench`): set up, run the scenarios, print the table, write RESULTS.md."""

from __future__ import annotations

import argparse
import datetime
import pickle
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bench import harness, profile, report
from bench.harness import (
    BENCH,
    OUT,
    VENV_BIN,
    GrpcTarget,
    HttpTarget,
    MachineLoad,
    Proc,
    Processes,
    Runner,
    Target,
    free_port,
    wait_port,
)
from bench.model import Options, Results
from bench.scenarios import NAMES, SCENARIOS, selected
from bench.stack import (
    ACTION_LIST,
    EXECUTE,
    INPROCESS_SHOP,
    JSON_TYPE,
    MAILED,
    SHOP,
    SYNC_PARAMS,
    Setup,
    check_answer,
    make_auth,
)

LAST_RUN = OUT / "last-run.pickle"


def profiles(setup: Setup, runner: Runner, results: Results, py_spy: Path, seconds: float) -> None:
    """Profile what the unmet targets depend on, under the same load."""
    unmet = {check.key for check in results.checks if check.met is False}
    headers = setup.auth.bearer_headers()
    plans: list[tuple[str, Target, list[Proc]]] = []
    bridge, bridge_url = setup.started["bridge"]
    target: Target
    if unmet & {"s1-c32", "s1-c1", "s2", "floor-bridge", "floor-sdk-async"}:
        target = HttpTarget("bridge", bridge_url, EXECUTE, headers, (bridge, setup.shop))
        plans.append(("execute_action through the bridge", target, [bridge, setup.shop]))
        if "reference" in setup.started:
            peer, peer_url = setup.started["reference"]
            target = HttpTarget("reference", peer_url, EXECUTE, headers, (peer,))
            plans.append(("execute_action on the reference", target, [peer]))
    if unmet & {"floor-sdk-sync"}:
        shop = f"127.0.0.1:{setup.shop_port}"
        target = GrpcTarget("sdk-sync", shop, SYNC_PARAMS, (setup.shop,))
        plans.append(("ExecuteAction of a sync handler on the SDK", target, [setup.shop]))
    if unmet & {"inprocess-c1"}:
        inproc, inproc_url = setup.started["in-process"]
        target = HttpTarget("in-process", inproc_url, EXECUTE, headers, (inproc,))
        plans.append(("execute_action, shop in-process", target, [inproc]))
    go_targets = {"go-c32", "go-workers2", "obs-log", "obs-trace-off"}
    if unmet & go_targets and "bridge-go" in setup.started:
        go_bridge, go_url = setup.started["bridge-go"]
        target = HttpTarget("go-bridge", go_url, EXECUTE, headers, (go_bridge,))
        plans.append(("execute_action through the bridge to the Go shop", target, [go_bridge]))
    if unmet & {"s3-1", "s3-10", "s3-flat"} or unmet & {"s4-list"}:
        target = HttpTarget("bridge-list", bridge_url, ACTION_LIST, headers, (bridge,))
        plans.append(("get_action_list through the bridge", target, [bridge]))
    if unmet & {"s4-execute", "s4-list"}:
        target = HttpTarget(
            "jwt-execute", bridge_url, EXECUTE, setup.auth.jwt_headers(), (bridge, setup.shop)
        )
        plans.append(("execute_action with JWT", target, [bridge]))
    for label, target, procs in plans:
        with harness.timed(f"profiling: {label}"):
            running = profile.record(py_spy, label, procs, seconds)
            time.sleep(0.5)  # py-spy attaches
            runner.run(target, 32, seconds)
            results.profiles[label] = profile.collect(running, label, procs)


def _start(setup: Setup, peer_python: Path | None) -> None:
    """The servers most scenarios share: bridges in front of the Python shop, the reference."""
    auth = setup.auth
    headers = auth.bearer_headers()
    shop_service = [f"shop=127.0.0.1:{setup.shop_port}"]
    setup.bridge("bridge", shop_service)
    setup.bridge("in-process", [f"shop={INPROCESS_SHOP}"])
    setup.bridge("bridge-noauth", shop_service, ["--disable-auth"])
    if peer_python is not None:
        peer_port = free_port()
        peer = setup.procs.start(
            "reference",
            [str(peer_python), str(BENCH / "peer_server.py")],
            {"PORT": str(peer_port), "ADDRESS": "127.0.0.1", "BEARER_AUTH_KEY": auth.bearer},
        )
        setup.started["reference"] = (peer, f"http://127.0.0.1:{peer_port}/api/messages/")
        setup.ready("reference", headers, lambda body: len(body) == 2)
        check_answer(setup.started["reference"][1], headers, {"result": True})
    for name in ("bridge", "in-process"):
        setup.ready(name, headers, lambda body: len(body) == 5)
        check_answer(setup.started[name][1], headers, MAILED)
    setup.ready("bridge-noauth", {"Content-Type": JSON_TYPE}, lambda body: len(body) == 5)


def run(options: Options) -> Results:
    results = Results(datetime.datetime.now(datetime.UTC), options)
    began = time.monotonic()
    wrk = harness.ensure_wrk()
    try:
        peer_python: Path | None = harness.ensure_peer()
    except subprocess.CalledProcessError as error:
        results.notes.append(f"the reference server could not be installed: {error}")
        peer_python = None
    py_spy = harness.ensure_profiler() if options.profile else None
    runner = Runner(wrk)
    load = MachineLoad()
    load.start_ours = MachineLoad.ours()
    with Processes() as procs:
        shop_port = free_port()
        shop = procs.start(
            "shop",
            [str(VENV_BIN / "python"), str(SHOP), "--address", f"127.0.0.1:{shop_port}"],
        )
        wait_port(shop, shop_port)
        setup = Setup(procs, make_auth(), shop, shop_port, peer_python or Path())
        _start(setup, peer_python)
        for scenario in SCENARIOS:
            if scenario.name == "memory":
                # The machine's other load is measured over the comparisons only.
                results.others_cores = load.others_cores(procs.started)
            if scenario.name in options.only:
                scenario.run(setup, runner, results, options)
        if py_spy is not None:
            profiles(setup, runner, results, py_spy, min(6.0, 2 * options.seconds))
        elif options.profile:
            results.notes.append("py-spy could not be installed: no profiles")
        results.servers = {proc.name: proc.command() for proc in procs.started}
    results.commands = runner.commands
    results.elapsed = time.monotonic() - began
    return results


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench/run",
        description="The bridge side by side with the reference jet-bridge and its floors.",
    )
    # 4 rounds of 3 s and 1.5 s warm-ups keep the whole run within ~15 minutes on 2 cores.
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds per scenario")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of one round")
    parser.add_argument("--warmup", type=float, default=1.5, help="warm-up per target, s")
    parser.add_argument("--memory-requests", type=int, default=100_000)
    parser.add_argument("--memory-seconds", type=float, default=40.0)
    parser.add_argument("--no-profile", action="store_true", help="skip py-spy profiles")
    parser.add_argument(
        "--quick", action="store_true", help="2 short rounds, small memory run (smoke test)"
    )
    parser.add_argument(
        "--only",
        default=",".join(NAMES),
        help=f"comma-separated scenarios to run ({', '.join(NAMES)}; issue 6's numbers 1-6 "
        "work too); a partial run writes bench/.out/RESULTS-partial.md unless --output is given",
    )
    parser.add_argument("--output", type=Path)
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="measure nothing: write the report of the last run again (after editing "
        "bench/analysis.md)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.report_only:
        command, results = pickle.loads(LAST_RUN.read_bytes())
        output = args.output or results.options.output
        print(report.table(results))
        output.write_text(report.markdown(results, command))
        harness.log(f"wrote {output}")
        return
    try:
        only = selected(args.only)
    except ValueError as error:
        raise SystemExit(f"bench/run: {error}") from None
    if args.output is None:
        args.output = BENCH / "RESULTS.md" if only == set(NAMES) else OUT / "RESULTS-partial.md"
    options = Options(
        rounds=2 if args.quick else args.rounds,
        seconds=1.0 if args.quick else args.seconds,
        warmup=1.0 if args.quick else args.warmup,
        memory_requests=5_000 if args.quick else args.memory_requests,
        memory_seconds=4.0 if args.quick else args.memory_seconds,
        profile=not args.no_profile,
        output=args.output,
        only=only,
    )
    results = run(options)
    command = " ".join(["bench/run", *(argv if argv is not None else sys.argv[1:])])
    # Kept so that the report can be written again without measuring (--report-only).
    LAST_RUN.write_bytes(pickle.dumps((command, results)))
    print(report.table(results))
    args.output.write_text(report.markdown(results, command))
    harness.log(f"wrote {args.output}")
