"""What a check gets (the server under test, as the checks reach it) and how it fails."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import grpc
import orjson

from jetactions.contract import SECRET_METADATA
from jetactions.v1 import actions_pb2_grpc

CALL_TIMEOUT = 5.0
"""Client deadline of every ordinary call a check makes, in seconds."""


MAX_MESSAGE_BYTES = 16 * 1024 * 1024
"""Message limit of the suite's channels, as the SDKs' default (a File is one message)."""


class CheckFailed(AssertionError):
    """A check saw something other than what the contract (or the spec) says."""

    def __init__(self, expected: str, got: str) -> None:
        super().__init__(f"expected {expected}, got {got}")
        self.expected = expected
        self.got = got


class CheckSkipped(Exception):
    """A check has nothing to check on this server (e.g. no secret was given)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Failures:
    """Collects the failures of a check that tries many actions, so one report names them all."""

    def __init__(self) -> None:
        self._failed: list[tuple[str, CheckFailed]] = []

    @contextlib.contextmanager
    def of(self, label: str) -> Iterator[None]:
        """Record a CheckFailed raised in the block, for `label` (an action's name)."""
        try:
            yield
        except CheckFailed as error:
            self._failed.append((label, error))

    def raise_any(self) -> None:
        """Raise the first failure, naming the other failing labels; nothing if none failed."""
        if not self._failed:
            return
        (_, first), others = self._failed[0], [label for label, _ in self._failed[1:]]
        more = f" (also failing: {', '.join(others)})" if others else ""
        raise CheckFailed(first.expected, first.got + more)


@dataclass(frozen=True)
class Reply:
    """One HTTP answer of the bridge."""

    status: int
    content_type: str
    disposition: str
    body: bytes

    def json(self) -> Any:
        """The body as JSON; a check fails when it is not JSON."""
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            raise CheckFailed("a JSON body", f"{self.status} {self.body[:200]!r}") from None

    def describe(self) -> str:
        """Status and body, short enough for one report line."""
        body = self.body.decode(errors="replace")
        return f"{self.status} {body[:300]}{'...' if len(body) > 300 else ''}"


@dataclass
class BridgeClient:
    """Sends Jet messages to the bridge the suite started."""

    url: str
    session: aiohttp.ClientSession

    async def index(self) -> Reply:
        """`GET /`: the bridge's own status page."""
        return await self._request("GET", self.url.removesuffix("api/messages/"))

    async def send(self, name: str, params: Any = None) -> Reply:
        """POST one message; `params=None` leaves the key out, as Jet's browser client does."""
        message: dict[str, Any] = {"name": name}
        if params is not None:
            message["params"] = params
        return await self._request("POST", self.url, json=message)

    async def _request(self, method: str, url: str, **kwargs: Any) -> Reply:
        timeout = aiohttp.ClientTimeout(total=CALL_TIMEOUT * 2)
        async with self.session.request(method, url, timeout=timeout, **kwargs) as response:
            return Reply(
                status=response.status,
                content_type=response.headers.get("Content-Type", ""),
                disposition=response.headers.get("Content-Disposition", ""),
                body=await response.read(),
            )


@dataclass
class Target:
    """The server under test, as the checks reach it, and what the run was told about it."""

    address: str
    channel: grpc.aio.Channel
    """Sends the secret, when one is given, on every call."""
    stub: actions_pb2_grpc.ActionServiceStub
    prefix: str = ""
    """The shop suite: what the server puts in front of every action and model name."""
    exclude: frozenset[str] = frozenset()
    """The generic suite: actions never run (side effects)."""
    secret: str = ""
    """The shared secret the server requires; empty when it requires none."""
    bridge_client: BridgeClient | None = None

    @property
    def bridge(self) -> BridgeClient:
        """The bridge in front of the server; only bridge checks use it."""
        if self.bridge_client is None:
            raise RuntimeError("no bridge was started for this run")
        return self.bridge_client


def channel_options() -> list[tuple[str, Any]]:
    """Options of every channel the suite opens: explicit message limits."""
    return [
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ]


def open_channel(address: str, secret: str = "") -> grpc.aio.Channel:
    """A plaintext channel to `address` that sends `secret` (when not empty) on every call."""
    # grpc.aio files each interceptor under one kind of call only: one per kind the suite uses
    # (ActionService's unary methods, and the deadline probe's stream-unary call).
    interceptors: list[Any] = [_UnarySecret(secret), _StreamUnarySecret(secret)] if secret else []
    return grpc.aio.insecure_channel(
        address, options=channel_options(), interceptors=interceptors or None
    )


def _with_secret(details: grpc.aio.ClientCallDetails, secret: str) -> grpc.aio.ClientCallDetails:
    metadata = grpc.aio.Metadata(*(details.metadata or ()), (SECRET_METADATA, secret))
    return grpc.aio.ClientCallDetails(
        details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
    )


class _UnarySecret(grpc.aio.UnaryUnaryClientInterceptor):
    """Adds the shared secret to unary calls, as the bridge does."""

    def __init__(self, secret: str) -> None:
        self._secret = secret

    async def intercept_unary_unary(
        self, continuation: Callable[..., Any], client_call_details: Any, request: Any
    ) -> Any:
        return await continuation(_with_secret(client_call_details, self._secret), request)


class _StreamUnarySecret(grpc.aio.StreamUnaryClientInterceptor):
    """Adds the shared secret to stream-unary calls (the deadline probe)."""

    def __init__(self, secret: str) -> None:
        self._secret = secret

    async def intercept_stream_unary(
        self, continuation: Callable[..., Any], client_call_details: Any, request_iterator: Any
    ) -> Any:
        return await continuation(_with_secret(client_call_details, self._secret), request_iterator)


def expect(what: str, expected: Any, got: Any) -> None:
    """Fail unless `got == expected`, naming `what` was compared."""
    if got != expected:
        raise CheckFailed(f"{what} = {expected!r}", repr(got))
