"""Prometheus metrics of the action server (``pip install 'jetactions[metrics]'``).

Names follow OpenTelemetry's RPC semantic conventions in Prometheus form. Labels are bounded:
``action`` only takes the names the server declares (anything else is recorded as ``""``), and
``outcome`` is one of a fixed set (a response kind or a gRPC status code name).

One set of metrics per process, in prometheus-client's default registry, so an application's
own metrics and the process collector appear on the same endpoint.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from typing import Any, Protocol

from jetactions._settings import MissingExtraError

__all__ = ["MetricsEndpoint", "Pool", "RpcMetrics", "rpc_metrics", "serve_metrics"]

# RPC durations from 1 ms to a minute: actions can be slow (exports, mail).
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

_INSTALL_HINT = "metrics need prometheus-client: pip install 'jetactions[metrics]'"


class Pool(Protocol):
    """What the pool collector reads from a sync handler pool (``jetactions.SyncPool``); a
    ``stuck`` count is read too when the pool has one."""

    @property
    def size(self) -> int:
        """The most threads the pool runs."""

    @property
    def busy(self) -> int:
        """Threads running a handler now."""


def _client() -> Any:
    try:
        import prometheus_client
    except ImportError:
        raise MissingExtraError(_INSTALL_HINT) from None
    return prometheus_client


class RpcMetrics:
    """The process's RPC metrics and the pools they report on."""

    def __init__(self) -> None:
        client = _client()
        labels = ("rpc_method", "action", "outcome")
        self.duration = client.Histogram(
            "rpc_server_duration_seconds",
            "Duration of ActionService calls, by method, action and outcome.",
            labels,
            buckets=BUCKETS,
        )
        self.calls = client.Counter(
            "rpc_server_calls", "ActionService calls, by method, action and outcome.", labels
        )
        self.active = client.Gauge(
            "rpc_server_active_requests", "ActionService calls in progress.", ("rpc_method",)
        )
        self._pools: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
        client.REGISTRY.register(_PoolCollector(self._pools))

    def watch_pool(self, pool: Pool, server: str) -> None:
        """Reports this server's sync handler pool until the pool is gone."""
        self._pools[pool] = server


class _PoolCollector:
    """Reads each pool when scraped (its numbers change with every call)."""

    def __init__(self, pools: weakref.WeakKeyDictionary[Any, str]) -> None:
        self._pools = pools

    def describe(self) -> list[Any]:
        # Registered without a first collect(): the pools may not exist yet.
        return []

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        families = {
            "size": GaugeMetricFamily(
                "jetactions_handler_pool_size", "Threads the sync handler pool may run.",
                labels=["server"],
            ),
            "busy": GaugeMetricFamily(
                "jetactions_handler_pool_busy", "Threads running a sync handler now.",
                labels=["server"],
            ),
            "stuck": GaugeMetricFamily(
                "jetactions_handler_pool_stuck",
                "Threads still running a sync handler whose call has ended.",
                labels=["server"],
            ),
        }  # fmt: skip
        used: set[str] = set()
        for pool, server in list(self._pools.items()):
            for attribute, family in families.items():
                value = getattr(pool, attribute, None)
                if isinstance(value, int):
                    family.add_metric([server], value)
                    used.add(attribute)
        yield from (family for attribute, family in families.items() if attribute in used)


_lock = threading.Lock()
_metrics: RpcMetrics | None = None


def rpc_metrics() -> RpcMetrics:
    """The process's metrics, created on first use.

    Raises:
        MissingExtraError: prometheus-client is not installed.
    """
    global _metrics
    with _lock:
        if _metrics is None:
            _metrics = RpcMetrics()
        return _metrics


class MetricsEndpoint:
    """``/metrics`` over HTTP on its own port, served by a daemon thread."""

    def __init__(self, server: Any, host: str) -> None:
        self._server = server
        self.host = host
        self.port: int = server.server_address[1]

    def close(self) -> None:
        """Stops listening (blocks up to half a second: run it in a thread)."""
        self._server.shutdown()
        self._server.server_close()


def serve_metrics(host: str, port: int) -> MetricsEndpoint:
    """Serves the default registry on ``host:port`` (port 0 picks one).

    Raises:
        MissingExtraError: prometheus-client is not installed.
        OSError: The port cannot be bound.
    """
    client = _client()
    server, _thread = client.start_http_server(port, addr=host)
    return MetricsEndpoint(server, host)
