"""Counters, histograms and a gauge kept as plain numbers, for the metrics every request touches
in a single-process bridge (metrics.py); /metrics shows them exactly as prometheus-client's own.

prometheus-client's metrics take a lock per increment and go through several calls per
observation (~0.4 µs a counter, ~1 µs a histogram): seven of them per request were ~3.6 µs
of the bridge's CPU under load. Here an observation is a list update: the event loop that
answers requests is the only writer and the same loop serves /metrics, so nothing can run in
between. With `--workers`, prometheus-client's multiprocess mode (files) is used instead.
"""

from __future__ import annotations

import math
import os
import time
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.utils import floatToGoString

# As prometheus-client decides whether to show the `_created` series.
_CREATED = os.environ.get("PROMETHEUS_DISABLE_CREATED_SERIES", "False").lower() not in (
    "true",
    "1",
    "t",
)


C = TypeVar("C")


class _Family(Generic[C]):
    """One metric's series by label values; registered on `registry` as its collector.

    A subclass says how a series starts (`_child`) and what samples it shows (`_samples`)."""

    kind = ""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str] = (),
        *,
        registry: CollectorRegistry,
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self._children: dict[tuple[str, ...], C] = {}
        self._created: dict[tuple[str, ...], float] = {}
        registry.register(self)  # a Collector: it has collect()

    def labels(self, *values: str) -> C:
        """The series of these label values (made on first use)."""
        child = self._children.get(values)
        if child is None:
            if len(values) != len(self.labelnames):
                raise ValueError(f"{self.name} takes labels {self.labelnames}, not {values}")
            self._created[values] = time.time()
            child = self._children[values] = self._child()
        return child

    def _names(self, labels: tuple[str, ...]) -> dict[str, str]:
        return dict(zip(self.labelnames, labels, strict=True))

    def collect(self) -> Iterator[Metric]:
        """The samples, in the order and shape prometheus-client's metric gives them."""
        metric = Metric(self.name, self.documentation, self.kind)
        for labels, child in self._children.items():
            self._samples(metric, self._names(labels), child)
            if _CREATED:
                metric.add_sample(
                    f"{self.name}_created", self._names(labels), self._created[labels]
                )
        yield metric

    def _child(self) -> C:
        raise NotImplementedError

    def _samples(self, metric: Metric, names: dict[str, str], child: C) -> None:
        raise NotImplementedError


class CounterChild:
    """One labelled counter series."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1) -> None:
        """Add `amount` (never negative: callers add counts)."""
        self.value += amount


class PlainCounter(_Family[CounterChild]):
    """A counter family, as `prometheus_client.Counter` with label names."""

    kind = "counter"

    def _child(self) -> CounterChild:
        return CounterChild()

    def _samples(self, metric: Metric, names: dict[str, str], child: CounterChild) -> None:
        metric.add_sample(f"{self.name}_total", names, child.value)


class HistogramChild:
    """One labelled histogram series: a count per bucket (not cumulative) and the sum."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * len(bounds)
        self.sum = 0.0

    def observe(self, amount: float) -> None:
        """Count `amount` in the first bucket whose upper bound is >= it."""
        self.counts[bisect_left(self.bounds, amount)] += 1
        self.sum += amount


class PlainHistogram(_Family[HistogramChild]):
    """A histogram family, as `prometheus_client.Histogram` with label names and buckets."""

    kind = "histogram"

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str] = (),
        *,
        buckets: Sequence[float],
        registry: CollectorRegistry,
    ) -> None:
        self.bounds = (*(float(b) for b in buckets), math.inf)
        super().__init__(name, documentation, labelnames, registry=registry)

    def _child(self) -> HistogramChild:
        return HistogramChild(self.bounds)

    def _samples(self, metric: Metric, names: dict[str, str], child: HistogramChild) -> None:
        total = 0
        for bound, count in zip(self.bounds, child.counts, strict=True):
            total += count
            le = {**names, "le": floatToGoString(bound)}  # type: ignore[no-untyped-call]
            metric.add_sample(f"{self.name}_bucket", le, float(total))
        metric.add_sample(f"{self.name}_count", names, float(total))
        metric.add_sample(f"{self.name}_sum", names, child.sum)


class PlainGauge:
    """A gauge without labels, as `prometheus_client.Gauge` (inc and dec only)."""

    def __init__(
        self,
        name: str,
        documentation: str,
        *,
        registry: CollectorRegistry,
        multiprocess_mode: str = "all",
    ) -> None:
        # `multiprocess_mode` only matters to workers' files; taken, as prometheus-client's
        # Gauge takes it in one process too, so that either class is called alike.
        self.name = name
        self.documentation = documentation
        self.value = 0.0
        registry.register(self)  # a Collector: it has collect()

    def inc(self, amount: float = 1) -> None:
        """Add `amount`."""
        self.value += amount

    def dec(self, amount: float = 1) -> None:
        """Take `amount` away."""
        self.value -= amount

    def collect(self) -> Iterator[Metric]:
        """The one sample, as prometheus-client's gauge gives it."""
        metric = Metric(self.name, self.documentation, "gauge")
        metric.add_sample(self.name, {}, self.value)
        yield metric
