"""Errors the bridge answers with, and the mapping from gRPC status codes to HTTP."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import grpc

# How a gRPC status reaches the browser. Anything not listed (UNKNOWN, INTERNAL, DATA_LOSS, a
# code from a newer gRPC) is the action server's own failure: 502, as for a broken answer.
HTTP_STATUS_BY_GRPC_CODE: Mapping[grpc.StatusCode, int] = {
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
}


def http_status_for(code: grpc.StatusCode) -> int:
    """The HTTP status the bridge answers with when an action server returns `code`."""
    return HTTP_STATUS_BY_GRPC_CODE.get(code, SERVER_FAILED)


SERVER_FAILED = 502
"""The one status of every failure of an action server itself: an error it did not mean to
return, an answer that breaks the contract or cannot be decoded, one too large to send."""

LOG_TEXT_LIMIT = 200


def bounded(text: str, limit: int = LOG_TEXT_LIMIT) -> str:
    """`text` cut to `limit` characters, saying how much was cut: what user input puts into a
    log line or an error message stays small whatever was sent."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}...[+{len(text) - limit} chars]"


class BridgeError(Exception):
    """An error answered as JSON: `{"detail": ..., **fields}` with an HTTP status.

    `fields` carries Jet's validation shapes (`{"name": ["..."]}`, `non_field_errors`) and
    machine-readable extras (`code`, `service`), next to the human `detail` Jet shows.
    """

    def __init__(self, status: int, detail: str, **fields: object) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.fields = fields
        self.headers: dict[str, str] = {}

    def body(self) -> dict[str, object]:
        """The JSON object sent to the client."""
        return {**self.fields, "detail": self.detail}


def invalid(
    detail: str, field: str = "non_field_errors", errors: Sequence[str] = ()
) -> BridgeError:
    """A 400 in Jet's validation shape: `{"<field>": [...], "detail": ...}`."""
    return BridgeError(400, detail, **{field: list(errors) or [detail]})


# Statuses that gRPC itself produces for transport failures: their details name internal
# addresses and library internals, so the client gets a plain sentence and the log the rest.
_TRANSPORT_MESSAGES: Mapping[grpc.StatusCode, str] = {
    grpc.StatusCode.UNAVAILABLE: "action server '{}' is unavailable",
    grpc.StatusCode.DEADLINE_EXCEEDED: "action server '{}' did not answer in time",
    grpc.StatusCode.CANCELLED: "the call to action server '{}' was cancelled",
    grpc.StatusCode.UNKNOWN: "action server '{}' failed",
    grpc.StatusCode.INTERNAL: "action server '{}' failed",
    grpc.StatusCode.DATA_LOSS: "action server '{}' failed",
}


def grpc_error(service: str, code: grpc.StatusCode, details: str | None) -> BridgeError:
    """The error answered when a call to an action server ends with a gRPC status.

    Statuses an action server raises on purpose (NOT_FOUND, PERMISSION_DENIED, ...) keep its
    message, which is meant for the user; transport failures get a plain sentence.
    """
    template = _TRANSPORT_MESSAGES.get(code)
    if template is not None:
        message = template.format(service)
    else:
        message = details or f"action server '{service}' answered {code.name}"
    return BridgeError(http_status_for(code), message, code=code.name, service=service)


def server_failed(service: str, why: str) -> BridgeError:
    """The action server broke the contract or failed in a way it did not mean to return."""
    return BridgeError(
        SERVER_FAILED, f"action server '{service}' failed: {why}", code="INTERNAL", service=service
    )


def unavailable(service: str, why: str) -> BridgeError:
    """A 503 for an action server the bridge cannot reach now."""
    return BridgeError(
        503, f"action server '{service}' is unavailable: {why}", code="UNAVAILABLE", service=service
    )


def overloaded(service: str, limit: int) -> BridgeError:
    """A 503 when a service already has its maximum of calls in flight."""
    error = BridgeError(
        503,
        f"action server '{service}' is busy ({limit} calls in flight); try again shortly",
        code="OVERLOADED",
        service=service,
    )
    error.headers["Retry-After"] = "1"
    return error


def too_large(service: str, details: str) -> BridgeError:
    """A 502 when an answer exceeds the bridge's max_message_bytes."""
    return BridgeError(
        502,
        f"the answer of action server '{service}' is larger than the bridge accepts "
        f"(max_message_bytes): {details}",
        code="RESOURCE_EXHAUSTED",
        service=service,
    )
