"""What observability costs the bridge (issue 10, "Performance"), in front of the Go shop so
that the bridge is the busiest process and its cost shows in throughput.

- access log + Prometheus metrics on (`--metrics-port`) against both off (`--no-access-log`);
- OpenTelemetry configured with sampling off (an OTLP endpoint and
  `OTEL_TRACES_SAMPLER=parentbased_always_off`, requests without a traceparent) against not
  configured; and every request traced (`always_on`), exported to an OTLP sink.
"""

from __future__ import annotations

from bench.harness import HttpTarget, Runner, Target, free_port, timed
from bench.model import Options, Results, info_check, ratio_check, rps
from bench.stack import EXECUTE, MAILED, Setup, check_answer, supports

WHAT_LOG = (
    "execute_action, concurrency 32: throughput, access log + metrics on / off (bridge in "
    "front of the Go shop)"
)
WHAT_OFF = (
    "execute_action, concurrency 32: throughput, tracing configured with sampling off / not "
    "configured"
)
WHAT_ALL = "execute_action, concurrency 32: throughput, tracing at 100 % / not configured"


def run(setup: Setup, runner: Runner, results: Results, options: Options) -> None:
    if not (supports("--no-access-log") and supports("--metrics-port")):
        why = "this bridge has no --no-access-log/--metrics-port (branch obs-bridge not merged)"
        for key, what in (("obs-log", WHAT_LOG), ("obs-trace-off", WHAT_OFF)):
            results.skip(key, "observability", what, why)
        return
    go = setup.go_shop()
    if go is None:
        results.skip("obs-log", "observability", WHAT_LOG, "Go is not installed")
        return
    go_shop, go_port = go
    sink, sink_port = setup.helper("otlp-sink", "otlp-sink")
    endpoint = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{sink_port}"}
    headers = setup.auth.bearer_headers()
    service = [f"shop=127.0.0.1:{go_port}"]
    quiet = ["--no-access-log"]
    bridges = {
        "obs-off": (quiet, {}),
        "obs-on": (["--access-log", "--metrics-port", str(free_port())], {}),
        "trace-off": (quiet, {**endpoint, "OTEL_TRACES_SAMPLER": "parentbased_always_off"}),
        "trace-all": (quiet, {**endpoint, "OTEL_TRACES_SAMPLER": "always_on"}),
    }
    targets: list[Target] = []
    for name, (args, env) in bridges.items():
        proc, url = setup.bridge(f"bridge-{name}", service, args, env)
        setup.ready(f"bridge-{name}", headers, lambda body: len(body) == 5)
        check_answer(url, headers, MAILED)
        targets.append(HttpTarget(name, url, EXECUTE, headers, (proc, go_shop)))
    with timed("observability: access log, metrics and tracing on and off"):
        samples = runner.rounds(targets, 32, options.rounds, options.seconds, options.warmup)
    results.add(samples, 32)
    scenario = "observability"
    ratio_check(
        results,
        "obs-log",
        scenario,
        WHAT_LOG,
        ("obs-on", 32),
        ("obs-off", 32),
        rps,
        0.95,
        True,
        "req/s",
    )
    ratio_check(
        results,
        "obs-trace-off",
        scenario,
        WHAT_OFF,
        ("trace-off", 32),
        ("obs-off", 32),
        rps,
        0.98,
        True,
        "req/s",
    )
    info_check(
        results,
        "obs-trace-all",
        scenario,
        WHAT_ALL,
        ("trace-all", 32),
        ("obs-off", 32),
        rps,
        "req/s",
    )
    for name in bridges:
        setup.started[f"bridge-{name}"][0].stop()
    sink.stop()
