"""One configured action server as the bridge sees it: a gRPC channel, a stub and a state."""

from __future__ import annotations

import enum
import json

import grpc

from jetactions.v1 import actions_pb2, actions_pb2_grpc
from jetbridge.config import ServiceConfig, Settings


class ServiceState(enum.Enum):
    """Whether calls to a service are attempted."""

    STARTING = "starting"
    """Not discovered yet."""
    UP = "up"
    """Its last ListActions call succeeded."""
    DOWN = "down"
    """Unreachable; calls fail fast until discovery succeeds again."""


def channel_options(settings: Settings) -> list[tuple[str, int | str]]:
    """Channel arguments shared by every service channel."""
    service_config: dict[str, object] = {
        # Spread calls over every address of a target, never pinning one replica.
        "loadBalancingConfig": [{"round_robin": {}}],
    }
    return [
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        # A dead peer behind a silent network is noticed within ~40 s even without calls;
        # the SDK's server permits pings this often.
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.keepalive_timeout_ms", 10_000),
        ("grpc.keepalive_permit_without_calls", 1),
        # Reconnect quickly after an action server restarts.
        ("grpc.initial_reconnect_backoff_ms", 200),
        ("grpc.min_reconnect_backoff_ms", 200),
        ("grpc.max_reconnect_backoff_ms", int(settings.retry_max_interval * 1000)),
        ("grpc.service_config", json.dumps(service_config)),
        ("grpc.enable_retries", 1),
    ]


def grpc_target(target: str) -> str:
    """A gRPC target for `host:port`, `dns:///...` or several comma-separated addresses."""
    if "://" in target or "," not in target:
        return target
    # Several addresses: the ipv4/ipv6 resolvers take a comma-separated list.
    return ("ipv6:" if target.startswith("[") else "ipv4:") + target


class Service:
    """A configured action server: how to call it and what it last declared."""

    def __init__(self, config: ServiceConfig, settings: Settings) -> None:
        self.config = config
        self.name = config.name
        self.channel = grpc.aio.insecure_channel(
            grpc_target(config.target), options=channel_options(settings)
        )
        self.stub = actions_pb2_grpc.ActionServiceStub(self.channel)
        # Sent with every call; empty unless a shared secret is configured.
        self.metadata: tuple[tuple[str, str], ...] = (
            (("x-jetbridge-secret", config.secret),) if config.secret else ()
        )
        self.state = ServiceState.STARTING
        self.listing: actions_pb2.ListActionsResponse | None = None
        self.last_error = ""

    def status(self) -> dict[str, object]:
        """State for /readyz, `jetbridge check` and the index page."""
        return {
            "name": self.name,
            "target": self.config.target,
            "state": self.state.value,
            "actions": len(self.listing.actions) if self.listing else 0,
            **({"error": self.last_error} if self.state is not ServiceState.UP else {}),
        }

    async def close(self) -> None:
        """Close the channel; calls still running are cancelled."""
        await self.channel.close()
