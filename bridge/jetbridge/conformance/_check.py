"""The building blocks of checks: what one check is, what it gets, and how it fails."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
import grpc
import orjson

from jetactions.v1 import actions_pb2_grpc
from jetbridge.conformance.spec import Shop

Layer = Literal["grpc", "bridge"]

CALL_TIMEOUT = 5.0
"""Client deadline of every ordinary call a check makes, in seconds."""


class CheckFailed(AssertionError):
    """A check saw something other than what the spec says."""

    def __init__(self, expected: str, got: str) -> None:
        super().__init__(f"expected {expected}, got {got}")
        self.expected = expected
        self.got = got


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
    """The server under test, as the checks reach it."""

    address: str
    shop: Shop
    channel: grpc.aio.Channel
    stub: actions_pb2_grpc.ActionServiceStub
    bridge_client: BridgeClient | None = None

    @property
    def bridge(self) -> BridgeClient:
        """The bridge in front of the server; only bridge checks use it."""
        if self.bridge_client is None:
            raise RuntimeError("no bridge was started for this run")
        return self.bridge_client


CheckFunction = Callable[[Target], Awaitable[str | None]]
"""Passes by returning (optionally a short note for the report), fails by raising."""


@dataclass(frozen=True)
class Check:
    """One named check of the suite."""

    id: str
    title: str
    layer: Layer
    function: CheckFunction


def check(layer: Layer, check_id: str, title: str) -> Callable[[CheckFunction], Check]:
    """Make a check of `function`; the modules list their checks in the order they run."""

    def wrap(function: CheckFunction) -> Check:
        return Check(id=check_id, title=title, layer=layer, function=function)

    return wrap


def expect(what: str, expected: Any, got: Any) -> None:
    """Fail unless `got == expected`, naming `what` was compared."""
    if got != expected:
        raise CheckFailed(f"{what} = {expected!r}", repr(got))
