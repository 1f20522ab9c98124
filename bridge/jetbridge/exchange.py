"""What the bridge learns about the request it is handling, for its log line, metrics and span.

One `Exchange` per HTTP request, reachable anywhere in the request's task through a context
variable: the handler notes the message and the caller, the gRPC call site the service and the
status code, and the observing middleware reads it all once the answer is ready.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from jetactions.v1 import actions_pb2


@dataclass(slots=True)
class Exchange:
    """One request as observed; plain fields, written by whoever learns them."""

    request_id: str
    started: float
    """time.perf_counter() when the request arrived."""
    message: str = ""
    """The message name as sent (unbounded: whoever prints it bounds it)."""
    action: str = ""
    """The action (execute_action) or `model.field` (get_field_options) as sent."""
    routed: bool = False
    """The action was found in the catalog, so its name is a bounded metric label."""
    service: str = ""
    """The configured service that was called."""
    grpc_code: str = ""
    """Status code name of the gRPC call, once it ended."""
    caller: actions_pb2.Caller | None = None
    """Set once authentication accepted the request."""
    rejected: str = ""
    """Why the bridge refused the request before calling anyone (overloaded, service_down)."""
    detail: str = ""
    """Why the bridge answered with an error (unbounded: whoever prints it bounds it)."""
    span: Any = None
    """The server span, when tracing is on."""
    observer: Any = None
    """The `observe.Observer` of the app (metrics, tracing) for the gRPC call site."""


CURRENT: ContextVar[Exchange | None] = ContextVar("jetbridge_exchange", default=None)


def current() -> Exchange | None:
    """The exchange of the request being handled, or None (discovery, tests without the app)."""
    return CURRENT.get()


def current_request_id() -> str:
    """The id of the request being handled; empty outside a request."""
    exchange = CURRENT.get()
    return exchange.request_id if exchange is not None else ""


def note_message(name: str, params: dict[str, Any]) -> None:
    """The handler parsed a message: remember its name and what it targets."""
    exchange = CURRENT.get()
    if exchange is None:
        return
    exchange.message = name
    target = params.get("name") if name == "execute_action" else None
    if isinstance(target, str):
        exchange.action = target


def note_failure(detail: str) -> bool:
    """The request failed for `detail`; True when its access line will say so (the access log
    is on), so that a client's mistake makes one log line, not two."""
    exchange = CURRENT.get()
    if exchange is None:
        return False
    exchange.detail = detail
    return exchange.observer is not None and exchange.observer.access_log is not None


def note_caller(caller: actions_pb2.Caller) -> None:
    """Authentication accepted the request as `caller`."""
    exchange = CURRENT.get()
    if exchange is not None:
        exchange.caller = caller


def note_routed() -> None:
    """The action named in the request is in the catalog (so its name is a bounded label)."""
    exchange = CURRENT.get()
    if exchange is not None:
        exchange.routed = True


def note_rejected(reason: str) -> None:
    """The bridge refuses the request itself (a limit), for `jetbridge_rejected_requests_total`;
    `reason` is a fixed word (overloaded, service_down, ...), never user input."""
    exchange = CURRENT.get()
    if exchange is not None:
        exchange.rejected = reason


def with_request_id(body: dict[str, Any]) -> dict[str, Any]:
    """An error body with the request's id added as `request_id`."""
    exchange = CURRENT.get()
    if exchange is None:
        return body
    return {**body, "request_id": exchange.request_id}
