"""One configured action server as the bridge sees it: channels, stubs, state and load."""

from __future__ import annotations

import enum
import json
import re
from pathlib import Path
from typing import Any

import grpc

from jetactions.contract import SECRET_METADATA, SERVICE_NAME
from jetactions.v1 import actions_pb2, actions_pb2_grpc
from jetbridge import inprocess
from jetbridge.config import Calls, Limits, ServiceConfig

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


class ServiceState(enum.Enum):
    """Whether calls to a service are attempted."""

    STARTING = "starting"
    """Not discovered yet."""
    UP = "up"
    """Its last ListActions call succeeded."""
    DOWN = "down"
    """Unreachable or not serving; calls fail fast until discovery succeeds again."""


# gRPC retries calls on UNAVAILABLE only where a second attempt is harmless: the read-only
# methods always, ExecuteAction only for actions their server declares idempotent.
_RETRY_POLICY = {
    "maxAttempts": 3,
    "initialBackoff": "0.1s",
    "maxBackoff": "1s",
    "backoffMultiplier": 2,
    "retryableStatusCodes": ["UNAVAILABLE"],
}


def _service_config(retried_methods: list[str]) -> str:
    return json.dumps(
        {
            # Spread calls over every address of a target; skip replicas whose grpc.health.v1
            # status is not SERVING (a draining server says NOT_SERVING before it stops).
            "loadBalancingConfig": [{"round_robin": {}}],
            "healthCheckConfig": {"serviceName": SERVICE_NAME},
            "methodConfig": [
                {
                    "name": [{"service": SERVICE_NAME, "method": m} for m in retried_methods],
                    "retryPolicy": _RETRY_POLICY,
                }
            ],
        }
    )


def channel_options(config: ServiceConfig, calls: Calls, limits: Limits) -> list[tuple[str, Any]]:
    """Channel arguments of a service's channels (without the service config)."""
    options: list[tuple[str, Any]] = [
        ("grpc.max_send_message_length", limits.max_message_bytes),
        ("grpc.max_receive_message_length", limits.max_message_bytes),
        # A dead peer behind a silent network is noticed within ~40 s even without calls;
        # the SDK's server permits pings this often.
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.keepalive_timeout_ms", 10_000),
        ("grpc.keepalive_permit_without_calls", 1),
        # Reconnect quickly after an action server restarts.
        ("grpc.initial_reconnect_backoff_ms", 200),
        ("grpc.min_reconnect_backoff_ms", 200),
        ("grpc.max_reconnect_backoff_ms", int(calls.retry_max_interval * 1000)),
        ("grpc.enable_retries", 1),
    ]
    if config.server_name:
        options.append(("grpc.ssl_target_name_override", config.server_name))
    return options


def grpc_target(target: str) -> str:
    """A gRPC target for `host:port`, `dns:///...` or several comma-separated addresses."""
    if "://" in target or "," not in target:
        return target
    # Several addresses: the ipv4/ipv6 resolvers take a comma-separated list.
    return ("ipv6:" if target.startswith("[") else "ipv4:") + target


def _credentials(config: ServiceConfig) -> grpc.ChannelCredentials | None:
    if not config.uses_tls:
        return None

    def read(path: str) -> bytes | None:
        return Path(path).read_bytes() if path else None

    return grpc.ssl_channel_credentials(
        root_certificates=read(config.ca_file),
        private_key=read(config.key_file),
        certificate_chain=read(config.cert_file),
    )


def _channel(
    config: ServiceConfig, options: list[tuple[str, Any]], service_config: str
) -> grpc.aio.Channel:
    target = grpc_target(config.target)
    options = [*options, ("grpc.service_config", service_config)]
    credentials = _credentials(config)
    if credentials is None:
        return grpc.aio.insecure_channel(target, options=options)
    return grpc.aio.secure_channel(target, credentials, options=options)


class Service:
    """A configured action server: how to call it and what it last declared.

    Two channels: `stub` retries only the read-only methods, `idempotent_stub` also retries
    ExecuteAction, for actions declared idempotent. Their channel arguments differ, so each
    holds its own connections.
    """

    def __init__(self, config: ServiceConfig, calls: Calls, limits: Limits, index: int = 0) -> None:
        self.config = config
        # Until an unnamed service declares its name, it is known by its position: an address
        # must never reach the browser in an error message.
        self._placeholder = f"service-{index + 1}"
        self.channel: grpc.aio.Channel
        self._idempotent_channel: grpc.aio.Channel
        self.stub: actions_pb2_grpc.ActionServiceStub
        self.idempotent_stub: actions_pb2_grpc.ActionServiceStub
        if inprocess.is_inprocess(config.target):
            # A Python ActionServer loaded into this process: one servicer, no network.
            self.channel, self.stub = inprocess.connect(config.target)
            self._idempotent_channel, self.idempotent_stub = self.channel, self.stub
        else:
            options = channel_options(config, calls, limits)
            self.channel = _channel(
                config, options, _service_config(["ListActions", "GetFieldOptions"])
            )
            self._idempotent_channel = _channel(
                config,
                options,
                _service_config(["ListActions", "GetFieldOptions", "ExecuteAction"]),
            )
            self.stub = actions_pb2_grpc.ActionServiceStub(self.channel)
            self.idempotent_stub = actions_pb2_grpc.ActionServiceStub(self._idempotent_channel)
        # Sent with every call; empty unless a shared secret is configured.
        self.metadata: tuple[tuple[str, str], ...] = (
            ((SECRET_METADATA, config.secret),) if config.secret else ()
        )
        self.state = ServiceState.STARTING
        self.listing: actions_pb2.ListActionsResponse | None = None
        self.last_error = ""
        self.in_flight = 0

    @property
    def name(self) -> str:
        """The configured name, else the name the server declares, else `service-N`."""
        if self.config.name:
            return self.config.name
        declared = self.listing.server_name if self.listing else ""
        return declared if _NAME.fullmatch(declared) else self._placeholder

    def status(self) -> dict[str, object]:
        """State for /readyz, `jetbridge check` and the index page."""
        return {
            "name": self.name,
            "target": self.config.target,
            "state": self.state.value,
            "actions": len(self.listing.actions) if self.listing else 0,
            "in_flight": self.in_flight,
            **({"error": self.last_error} if self.state is not ServiceState.UP else {}),
        }

    async def close(self) -> None:
        """Close the channels; calls still running are cancelled."""
        await self.channel.close()
        await self._idempotent_channel.close()
