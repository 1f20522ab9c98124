"""The printed table and bench/RESULTS.md."""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence

from bench import harness
from bench.harness import BENCH, PEER_PACKAGE, PEER_UVLOOP, Sample
from bench.model import Check, Results

ANALYSIS = BENCH / "analysis.md"

LOAD_GENERATOR = """\
**wrk** (Debian's 4.1.0), one thread (`-t1`), with a Lua script that sets the message and prints
the summary as JSON. On a 2-core machine the load generator competes with the servers for CPU,
so it must cost as little as possible per request: wrk costs about 10-20 µs of CPU a request,
where a Python generator (aiohttp client) costs 100-200 µs, as much as the servers it measures.
wrk records the latency of *every* request in its histogram (`latency:percentile(p)` in `done`),
so p50 and p99 at concurrency 1 are per-request percentiles, not per-thread averages; no
per-request Lua callback is needed (one would slow wrk down). Scenario 2's direct gRPC client is
`bench/grpc_load.py` (grpc.aio on uvloop, the bridge's own request-building code and channel
arguments), since wrk cannot speak gRPC."""

METHOD = """\
Each comparison runs its targets in interleaved rounds after a warm-up: round *i* runs every
target once for the round's length, in an order rotated by *i*, so neighbours in time are
compared and slow drifts of the shared machine cancel out. A ratio is the **median of the
per-round ratios**; absolute numbers are medians over rounds. "CPU µs/request" is the CPU time
(user + system, all threads and worker processes) a process used during a round divided by the
requests answered, read from /proc: it does not depend on what else runs on the machine, and it
bounds throughput: with *k* cores, at most *k* / Σ(CPU per request) requests a second. All
servers listen on 127.0.0.1; the load generator runs on the same machine."""


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _ratio(check: Check) -> str:
    if check.ratio is None:
        return "—"
    if check.key == "s5":
        return f"{check.ratio:+.1f} MB"
    return f"{check.ratio:.2f}×"


def _verdict(check: Check) -> str:
    if check.met is None:
        return "pending" if check.ratio is None else "(info)"
    return "met" if check.met else "NOT MET"


def _cpu(samples: Sequence[Sample]) -> dict[str, float]:
    names = samples[0].cpu_us.keys() if samples else []
    return {name: _median([s.cpu_us[name] for s in samples]) for name in names}


def table(results: Results) -> str:
    """The plain-text table printed at the end of a run."""
    options = results.options
    lines = [
        "",
        f"Targets (median of {options.rounds} interleaved rounds of {options.seconds:g} s; "
        "ratio = median of the per-round ratios)",
    ]
    header = f"{'scn':<11} {'ratio':>9}  {'target':<14} {'result':<8} what / measured"
    lines += [header, "-" * len(header)]
    for check in results.checks:
        lines.append(
            f"{check.scenario:<11} {_ratio(check):>9}  {check.bound:<14} {_verdict(check):<8} "
            f"{check.what}"
        )
        lines.append(f"{'':<44}{check.detail}")
    lines += ["", "Measurements (medians)"]
    lines.append(
        f"{'target':<16} {'conc':>4} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}  CPU µs/request"
    )
    for (name, connections), samples in results.samples.items():
        cpu = ", ".join(f"{key} {value:.0f}" for key, value in _cpu(samples).items())
        lines.append(
            f"{name:<16} {connections:>4} {_median([s.rps for s in samples]):>8.0f} "
            f"{_median([s.p50_us for s in samples]) / 1000:>8.3f} "
            f"{_median([s.p99_us for s in samples]) / 1000:>8.3f}  {cpu}"
        )
    if results.others_cores > 0.05:
        lines.append(
            f"\nOther processes on the machine used {results.others_cores:.2f} cores on average "
            "during the comparisons (not the benchmark's)."
        )
    return "\n".join(lines)


def _analysis_sections() -> dict[str, str]:
    """bench/analysis.md, split at its `## <check key>` headings."""
    if not ANALYSIS.exists():
        return {}
    sections: dict[str, str] = {}
    for part in re.split(r"^## ", ANALYSIS.read_text(), flags=re.MULTILINE)[1:]:
        key, _, text = part.partition("\n")
        sections[key.strip()] = text.strip()
    return sections


_FIGURE = re.compile(r"\{\{(cpu|rps|p50|ratio) ([^ }]+)(?: (\d+))?(?: ([^ }]+))?\}\}")


def figures(text: str, results: Results) -> str:
    """bench/analysis.md's `{{...}}` figures, from this run: `{{cpu TARGET CONC PROCESS}}`
    (CPU µs/request), `{{rps TARGET CONC}}`, `{{p50 TARGET CONC}}` (ms), `{{ratio KEY}}`; "?"
    when the run did not measure it."""

    def figure(match: re.Match[str]) -> str:
        kind, name, connections, process = match.groups()
        if kind == "ratio":
            check = next((c for c in results.checks if c.key == name), None)
            return _ratio(check) if check is not None else "?"
        samples = results.samples.get((name, int(connections or 32)), [])
        if not samples:
            return "?"
        if kind == "cpu":
            value = _cpu(samples).get(process or name)
            return "?" if value is None else f"{value:.0f} µs"
        if kind == "rps":
            return f"{_median([s.rps for s in samples]):,.0f} requests/s"
        return f"{_median([s.p50_us for s in samples]) / 1000:.3f} ms"

    return _FIGURE.sub(figure, text)


def markdown(results: Results, command: str) -> str:
    """bench/RESULTS.md."""
    options = results.options
    machine = harness.machine()
    versions = harness.versions(
        ["aiohttp", "grpcio", "protobuf", "uvloop", "orjson", "PyJWT", "jetbridge", "jetactions"]
    )
    out = [
        "# Benchmark results",
        "",
        "Written by `bench/run` (scenarios in bench/scenarios/); do not edit by hand. The "
        "analysis of unmet targets comes from bench/analysis.md.",
        "",
        f"- Date: {results.started:%Y-%m-%d %H:%M} UTC; the run took {results.elapsed / 60:.1f} "
        "minutes.",
        f"- Command: `{command}` ({options.rounds} rounds of {options.seconds:g} s per target, "
        f"{options.warmup:g} s warm-up per target).",
        f"- Machine: {machine['cpu']}, {machine['memory']} RAM, {machine['os']}, "
        f"Python {machine['python']}.",
        "- Other load: processes that are not the benchmark's used "
        + (
            f"{results.others_cores:.2f} cores"
            if results.others_cores >= 0.05
            else "no measurable CPU (< 0.05 cores)"
        )
        + " on average during the comparisons (the machine is shared: only same-run ratios are"
        " reported).",
        "- Versions: "
        + ", ".join(f"{name} {version}" for name, version in versions.items())
        + f", reference `{PEER_PACKAGE}` (tornado 5.1.1, with `{PEER_UVLOOP}` for the runs on "
        "uvloop) in bench/.peer-venv.",
        *[f"- Note: {note}" for note in results.notes],
        "",
        "## Targets",
        "",
        "| scenario | what | measured (medians) | ratio | target | result |",
        "|---|---|---|---|---|---|",
    ]
    for check in results.checks:
        rounds = ""
        if len(check.rounds) > 1:
            rounds = " (rounds: " + ", ".join(f"{value:.2f}" for value in check.rounds) + ")"
        out.append(
            f"| {check.scenario} | {check.what} | {check.detail}{rounds} | {_ratio(check)} | "
            f"{check.bound} | **{_verdict(check)}** |"
        )
    out += [
        "",
        "## Method",
        "",
        METHOD,
        "",
        "### Load generator",
        "",
        LOAD_GENERATOR,
        "",
        "## Measurements",
        "",
        "Medians over the rounds; CPU µs/request by process (`loadgen` is wrk or the gRPC "
        "client; `shop` is the Python example action server).",
        "",
        "| target | concurrency | req/s | p50 ms | p99 ms | CPU µs/request | req/s by round |",
        "|---|---|---|---|---|---|---|",
    ]
    for (name, connections), samples in results.samples.items():
        cpu = ", ".join(f"{key} {value:.0f}" for key, value in _cpu(samples).items())
        by_round = ", ".join(f"{s.rps:.0f}" for s in samples)
        errors = sum(s.errors for s in samples)
        out.append(
            f"| {name} | {connections} | {_median([s.rps for s in samples]):.0f} | "
            f"{_median([s.p50_us for s in samples]) / 1000:.3f} | "
            f"{_median([s.p99_us for s in samples]) / 1000:.3f} | {cpu} | {by_round}"
            + (f" (**{errors} errors**)" if errors else "")
            + " |"
        )
    if results.memory:
        out += [
            "",
            "## Memory (scenario 5)",
            "",
            "A fresh bridge (gRPC to the shop, Bearer auth) under execute_action load at "
            "concurrency 32, RSS sampled between 5-second wrk runs.",
            "",
            "| requests | seconds of load | RSS MiB |",
            "|---|---|---|",
            f"| 0 (started, discovery done) | 0 | {results.memory_start / 2**20:.1f} |",
        ]
        for requests, seconds, rss in results.memory:
            out.append(f"| {requests:,} | {seconds:.0f} | {rss / 2**20:.1f} |")
    unmet = [check for check in results.checks if check.met is False]
    sections = _analysis_sections()
    if "optimisations" in sections:
        out += [
            "",
            "## Optimisations made and tried",
            "",
            figures(sections["optimisations"], results),
        ]
    if unmet:
        out += ["", "## Why the unmet targets are unmet, and what would move them", ""]
        for check in unmet:
            out += [f"### Scenario {check.scenario}: {check.what}", ""]
            section = sections.get(check.key, "_No analysis written for this target yet._")
            out.append(figures(section, results) + "\n")
    if results.profiles:
        out += [
            "",
            "## Profiles",
            "",
            "py-spy (`record --nonblocking --rate 400`, Python frames; time in C extensions "
            "counts for the Python function that called them) on the servers while wrk ran the "
            "same load "
            "at concurrency 32. *Areas* attribute each non-idle sample to the code it was "
            "executing (its innermost frame); *functions* are inclusive (a function and what it "
            "calls).",
        ]
        for label, items in results.profiles.items():
            for item in items:
                out += [
                    "",
                    f"### {label}: process `{item.name}` ({item.samples} busy samples, "
                    f"{item.idle} idle)",
                    "",
                    "| area (self time) | share |",
                    "|---|---|",
                ]
                out += [f"| {area} | {share:.0%} |" for area, share in item.areas[:12]]
                out += ["", "| function (inclusive) | share |", "|---|---|"]
                out += [f"| `{name}` | {share:.0%} |" for name, share in item.functions[:18]]
    out += [
        "",
        "## Exact commands",
        "",
        "Servers (environment, then command; run from the repository root):",
        "",
        "```",
        *[f"{name}: {cmd}" for name, cmd in results.servers.items()],
        "```",
        "",
        "Load (per target and concurrency: the warm-up's command, then the rounds'; the Lua "
        "scripts are in bench/.out/):",
        "",
        "```",
        *[f"{key}: {cmd}" for key, cmds in results.commands.items() for cmd in cmds],
        "```",
        "",
    ]
    return "\n".join(out)
