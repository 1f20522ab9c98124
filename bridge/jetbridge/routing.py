"""Routing Jet's messages to the service that declared them, and calling it over gRPC."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from jetactions.v1 import actions_pb2
from jetbridge import render
from jetbridge.catalog import Route
from jetbridge.discovery import Discovery
from jetbridge.errors import BridgeError, grpc_error, unavailable
from jetbridge.messages import execute_request, field_options_request
from jetbridge.services import Service, ServiceState

log = logging.getLogger(__name__)

Response = TypeVar("Response")


class Router:
    """Answers the three messages from the catalog and the services."""

    def __init__(self, discovery: Discovery) -> None:
        self.discovery = discovery

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
        response = await self._call(
            route.service,
            route.service.stub.ExecuteAction,
            request,
            self._timeout(route),
        )
        return render.execute_result(response)

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
            raise BridgeError(
                404, f"No action server serves options for {request.model}.{request.field}"
            )
        response = await self._call(
            service, service.stub.GetFieldOptions, request, service.config.timeout
        )
        return render.field_options(response)

    async def _route(self, name: str) -> Route:
        route = self.discovery.catalog.actions.get(name)
        if route is None:
            # A service may have gained the action since the last refresh.
            await self.discovery.refresh_on_demand()
            route = self.discovery.catalog.actions.get(name)
        if route is None:
            raise BridgeError(404, f"Unknown action {name!r}", name=[f"unknown action {name!r}"])
        return route

    @staticmethod
    def _timeout(route: Route) -> float:
        """The service's deadline, or the action's own when it is smaller."""
        timeout = route.service.config.timeout
        declared = route.action.timeout
        if declared.seconds or declared.nanos:
            timeout = min(timeout, declared.ToTimedelta().total_seconds())
        return timeout

    async def _call(
        self,
        service: Service,
        method: Callable[..., Awaitable[Response]],
        request: Any,
        deadline: float,
    ) -> Response:
        if service.state is ServiceState.DOWN:
            raise unavailable(service.name, "it did not answer the last discovery")
        try:
            return await method(request, timeout=deadline, metadata=service.metadata)
        except grpc.aio.AioRpcError as error:
            code = error.code()
            if code == grpc.StatusCode.UNAVAILABLE:
                self.discovery.mark_down(service, f"{code.name}: {error.details()}")
            log.warning("service %r answered %s: %s", service.name, code.name, error.details())
            raise grpc_error(service.name, code, error.details()) from None
