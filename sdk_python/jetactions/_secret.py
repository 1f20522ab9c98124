"""The shared secret between the bridge and an action server.

An action server listening beyond loopback would run actions for anyone who can reach it;
the secret limits it to the bridge. Only ActionService is guarded: health checks and
reflection stay open for orchestrators and tools, and they reveal nothing an action does.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from jetactions.contract import SECRET_METADATA, SERVICE_NAME

ENV_VAR = "JETACTIONS_BRIDGE_SECRET"
_DENIED = "missing or wrong bridge secret"


async def deny(request: object, context: grpc.aio.ServicerContext[Any, Any]) -> None:
    """Ends a call that does not carry the secret."""
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, _DENIED)


def carries(secret: bytes, metadata: Any) -> bool:
    """Whether ``metadata`` carries ``secret`` in ``x-jetbridge-secret``."""
    for key, value in metadata or ():
        if key == SECRET_METADATA:
            given = value.encode() if isinstance(value, str) else bytes(value)
            # Constant time, so the secret cannot be guessed byte by byte from timings.
            return hmac.compare_digest(given, secret)
    return False


def checker(secret: str) -> Callable[[Any], bool]:
    """``carries`` for one secret, for ``CallObserver.servicer`` (the server's own path)."""
    encoded = secret.encode()
    return lambda metadata: carries(encoded, metadata)


# Every ActionService method is unary-unary, so one refusing handler fits them all; without
# a deserializer the request stays raw bytes, which is all a refusal needs.
_DENY_HANDLER: grpc.RpcMethodHandler[Any, Any] = grpc.unary_unary_rpc_method_handler(deny)


class BridgeSecretInterceptor(grpc.aio.ServerInterceptor):
    """Refuses ActionService calls whose ``x-jetbridge-secret`` metadata is not the secret.

    The straightforward form of the check; ``ActionServer`` makes the same check inside
    ``CallObserver.servicer`` instead (no interceptor: see there), and the tests compare both.

    Args:
        secret: The shared secret; never logged.
    """

    def __init__(self, secret: str) -> None:
        self._secret = secret.encode()
        self._prefix = f"/{SERVICE_NAME}/"

    def __repr__(self) -> str:
        return "BridgeSecretInterceptor(secret=***)"

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        """Passes the call on when it is not ActionService's or carries the secret."""
        if handler_call_details.method.startswith(self._prefix) and not self._allowed(
            handler_call_details.invocation_metadata
        ):
            return _DENY_HANDLER
        return await continuation(handler_call_details)

    def _allowed(self, metadata: Any) -> bool:
        return carries(self._secret, metadata)
