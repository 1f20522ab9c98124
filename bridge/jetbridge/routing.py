"""Routing Jet's messages to the service that declared them, and calling it over gRPC."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from jetactions.v1 import actions_pb2
from jetbridge import exchange, observe, render
from jetbridge.catalog import Route
from jetbridge.discovery import Discovery
from jetbridge.errors import (
    BridgeError,
    bounded,
    grpc_error,
    overloaded,
    server_failed,
    too_large,
    unavailable,
)
from jetbridge.messages import execute_request, field_options_request
from jetbridge.services import Service, ServiceState

log = logging.getLogger(__name__)

Response = TypeVar("Response")


class Router:
    """Answers the three messages from the catalog and the services."""

    def __init__(self, discovery: Discovery, max_call_timeout: float) -> None:
        self.discovery = discovery
        self.max_call_timeout = max_call_timeout

    def action_list_body(self) -> bytes:
        """get_action_list's JSON body, served from the catalog."""
        return self.discovery.catalog.action_list_body

    async def execute(
        self, params: dict[str, Any], caller: actions_pb2.Caller
    ) -> tuple[int, dict[str, Any]] | render.Download:
        """Run execute_action on the service that declared the action."""
        request = execute_request(params)
        request.caller.CopyFrom(caller)
        route = await self._route(request.action)
        service = route.service
        stub = service.idempotent_stub if route.action.idempotent else service.stub
        response = await self._call(
            service, "ExecuteAction", stub.ExecuteAction, request, self._timeout(route)
        )
        try:
            return render.execute_result(response)
        except render.ProtocolViolation as error:
            log.warning("service %r broke the contract: %s", service.name, error)
            raise server_failed(service.name, f"it sent {error}") from None

    async def field_options(
        self, params: dict[str, Any], caller: actions_pb2.Caller
    ) -> list[dict[str, Any]]:
        """Answer get_field_options from the service that declared (model, field)."""
        request = field_options_request(params)
        request.caller.CopyFrom(caller)
        key = (request.model, request.field)
        service = self.discovery.catalog.field_options.get(key)
        if service is None:
            await self.discovery.refresh_on_demand()
            service = self.discovery.catalog.field_options.get(key)
        if service is None:
            where = bounded(f"{request.model}.{request.field}", 100)
            raise BridgeError(404, f"No action server serves options for {where}")
        deadline = min(service.config.timeout, self.max_call_timeout)
        response = await self._call(
            service, "GetFieldOptions", service.stub.GetFieldOptions, request, deadline
        )
        return render.field_options(response)

    async def _route(self, name: str) -> Route:
        route = self.discovery.catalog.actions.get(name)
        if route is None:
            # A service may have gained the action since the last refresh.
            await self.discovery.refresh_on_demand()
            route = self.discovery.catalog.actions.get(name)
        if route is None:
            detail = f"Unknown action {bounded(name, 100)!r}"
            down = [s.name for s in self.discovery.services if s.state is not ServiceState.UP]
            if down:
                detail += f" (action servers not reachable now: {', '.join(down)})"
            raise BridgeError(404, detail, name=[f"unknown action {bounded(name, 100)!r}"])
        exchange.note_routed()
        return route

    def _timeout(self, route: Route) -> float:
        """The smallest of the service's deadline, the action's own and the global cap."""
        timeout = min(route.service.config.timeout, self.max_call_timeout)
        declared = route.action.timeout
        if declared.seconds or declared.nanos:
            timeout = min(timeout, declared.ToTimedelta().total_seconds())
        return timeout

    async def _call(
        self,
        service: Service,
        method_name: str,
        method: Callable[..., Awaitable[Response]],
        request: Any,
        deadline: float,
    ) -> Response:
        if service.state is ServiceState.DOWN:
            exchange.note_rejected("service_down")
            raise unavailable(service.name, "it is down or not serving")
        if service.in_flight >= service.config.max_concurrent_calls:
            # Refuse at once rather than queue without end behind a slow service.
            exchange.note_rejected("overloaded")
            raise overloaded(service.name, service.config.max_concurrent_calls)
        service.in_flight += 1
        try:
            response = await observe.call(
                service.name, method_name, method, request, deadline, service.metadata
            )
        except grpc.aio.AioRpcError as error:
            raise self._failure(service, error, request) from None
        finally:
            service.in_flight -= 1
        if response is None:
            # grpc.aio logs the decoding error and hands back None (e.g. nested too deep).
            log.warning("service %r sent an answer the bridge cannot decode", service.name)
            raise server_failed(service.name, "it sent an answer that cannot be decoded")
        return response

    def _failure(self, service: Service, error: grpc.aio.AioRpcError, request: Any) -> BridgeError:
        code, details = error.code(), error.details() or ""
        log.warning("service %r answered %s: %s", service.name, code.name, bounded(details))
        if code == grpc.StatusCode.UNAVAILABLE:
            # One replica may be gone while others serve: let discovery decide, soon.
            self.discovery.check_soon(service)
        if code == grpc.StatusCode.RESOURCE_EXHAUSTED and "message larger than max" in details:
            return _size_failure(service.name, details, request.ByteSize())
        if code == grpc.StatusCode.RESOURCE_EXHAUSTED and "send limit" in details:
            # The SDKs' words for an answer over their own limit: their failure, not a 429.
            return server_failed(service.name, bounded(details))
        return grpc_error(service.name, code, details)


def _size_failure(service: str, details: str, request_size: int) -> BridgeError:
    """Which of four messages was too large: gRPC's details read the same on both sides, but
    the size they quote is the request's exactly when the request was the one too large."""
    sizes = re.search(r"\((\d+) vs\. (\d+)\)", details)
    ours = sizes is not None and int(sizes[1]) == request_size
    if details.startswith("Sent"):
        if ours:
            return BridgeError(413, "The request is too large to send to the action server")
        return server_failed(service, "its answer is larger than its own message size limit")
    if ours:
        return BridgeError(
            413,
            f"The request is larger than action server '{service}' accepts",
            code="RESOURCE_EXHAUSTED",
            service=service,
        )
    return too_large(service, details)
