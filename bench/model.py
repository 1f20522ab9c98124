"""What a run is made of: its options, its samples, its checks (targets) and their ratios.

Scenarios fill a `Results`; bench/report.py only reads one. Every check is a ratio of two
targets measured in the same run, in interleaved rounds: the median of the per-round ratios.
"""

from __future__ import annotations

import datetime
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.harness import Sample
from bench.profile import Profile

Metric = Callable[[Sample], float]


@dataclass(frozen=True)
class Options:
    rounds: int
    seconds: float
    warmup: float
    memory_requests: int
    memory_seconds: float
    profile: bool
    output: Path
    only: frozenset[str]
    """Names of the scenarios to run (bench/scenarios/__init__.py)."""


@dataclass
class Check:
    """One target of an issue: a measured ratio against a bound."""

    key: str
    scenario: str
    what: str
    ratio: float | None
    bound: str
    met: bool | None
    """None: not measured (pending) or a ratio with no target (info)."""
    detail: str
    rounds: list[float] = field(default_factory=list)


@dataclass
class Results:
    started: datetime.datetime
    options: Options
    samples: dict[tuple[str, int], list[Sample]] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    memory: list[tuple[int, float, int]] = field(default_factory=list)
    """(requests so far, seconds of load so far, RSS bytes) of the memory scenario."""
    memory_start: int = 0
    profiles: dict[str, list[Profile]] = field(default_factory=dict)
    commands: dict[str, list[str]] = field(default_factory=dict)
    servers: dict[str, str] = field(default_factory=dict)
    others_cores: float = 0.0
    notes: list[str] = field(default_factory=list)
    elapsed: float = 0.0

    def add(self, samples: Mapping[str, list[Sample]], connections: int) -> None:
        for name, items in samples.items():
            self.samples[(name, connections)] = items

    def skip(self, key: str, scenario: str, what: str, why: str) -> None:
        """A target this run could not measure, and why."""
        self.checks.append(Check(key, scenario, what, None, "—", None, f"pending: {why}"))


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def paired(
    a: Sequence[Sample], b: Sequence[Sample], metric_a: Metric, metric_b: Metric
) -> list[float]:
    """Per-round ratios metric_a(a)/metric_b(b); rounds were interleaved, so each pair is close
    in time."""
    return [metric_a(x) / metric_b(y) for x, y in zip(a, b, strict=True) if metric_b(y)]


def rps(sample: Sample) -> float:
    return sample.rps


def p50(sample: Sample) -> float:
    return sample.p50_us


def p99(sample: Sample) -> float:
    return sample.p99_us


def cpu(process: str) -> Metric:
    """CPU µs per request of one process of the target."""

    def metric(sample: Sample) -> float:
        return sample.cpu_us[process]

    return metric


def ratio_check(
    results: Results,
    key: str,
    scenario: str,
    what: str,
    a: tuple[str, int],
    b: tuple[str, int],
    metric: Metric,
    bound: float,
    at_least: bool,
    unit: str,
    metric_b: Metric | None = None,
) -> Check:
    """metric(a) / metric_b(b) (metric_b defaults to metric) against `bound`."""
    metric_b = metric_b or metric
    ratios = paired(results.samples[a], results.samples[b], metric, metric_b)
    ratio = median(ratios)
    met = ratio >= bound if at_least else ratio <= bound
    scale = 1000.0 if unit == "ms" else 1.0
    value_a = median([metric(s) for s in results.samples[a]]) / scale
    value_b = median([metric_b(s) for s in results.samples[b]]) / scale
    fmt = "{:.0f}" if unit in {"req/s", "µs"} else "{:.3f}"
    detail = f"{a[0]} {fmt.format(value_a)} {unit} vs {b[0]} {fmt.format(value_b)} {unit}"
    check = Check(
        key, scenario, what, ratio, f"{'≥' if at_least else '≤'} {bound:g}×", met, detail, ratios
    )
    results.checks.append(check)
    return check


def info_check(
    results: Results,
    key: str,
    scenario: str,
    what: str,
    a: tuple[str, int],
    b: tuple[str, int],
    metric: Metric,
    unit: str,
    metric_b: Metric | None = None,
) -> Check:
    """A measured ratio the issues set no bound on."""
    check = ratio_check(results, key, scenario, what, a, b, metric, 0.0, True, unit, metric_b)
    check.bound, check.met = "(no target)", None
    return check
