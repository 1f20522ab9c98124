"""The access log: one line per request on the `jetbridge.access` logger.

The fields are gathered into one dict; the text form (`key=value` pairs, logfmt-like) is only
built if a text handler formats the record, the JSON formatter dumps the dict itself. Values a
client chooses (path, message and action names) are cut to `MAX_VALUE_CHARS`. Credentials and
raw header values never appear: the caller is its user id, project and auth method.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

from jetactions.v1 import actions_pb2
from jetbridge.exchange import Exchange
from jetbridge.logs import ACCESS_LOGGER, bounded

log = logging.getLogger(ACCESS_LOGGER)

MAX_VALUE_CHARS = 100

AUTH_METHOD_NAMES = {
    actions_pb2.AUTH_METHOD_UNSPECIFIED: "none",
    actions_pb2.AUTH_METHOD_JWT: "JWT",
    actions_pb2.AUTH_METHOD_USER_TOKEN: "Token",
    actions_pb2.AUTH_METHOD_PROJECT_TOKEN: "ProjectToken",
    actions_pb2.AUTH_METHOD_BEARER: "Bearer",
}


def write(
    exchange: Exchange, method: str, path: str, status: int, duration: float, bytes_out: int
) -> None:
    """Log the request's line (at INFO)."""
    caller = exchange.caller
    fields: dict[str, Any] = {
        "method": method,
        "path": bounded(path, MAX_VALUE_CHARS),
        "status": status,
        "message_name": bounded(exchange.message, MAX_VALUE_CHARS),
        "action": bounded(exchange.action, MAX_VALUE_CHARS),
        "service": exchange.service,
        "grpc_code": exchange.grpc_code,
        "duration_ms": round(duration * 1000, 3),
        "bytes_out": bytes_out,
        "request_id": exchange.request_id,
        "auth": AUTH_METHOD_NAMES.get(caller.auth_method, "") if caller is not None else "",
        "user_id": bounded(caller.user_id, MAX_VALUE_CHARS) if caller is not None else "",
        "project": bounded(caller.project, MAX_VALUE_CHARS) if caller is not None else "",
    }
    log.info("%s", _TextLine(fields), extra={"fields": fields})


class _TextLine:
    """Formats as `key=value ...` when (and only when) a text handler asks for the message."""

    __slots__ = ("fields",)

    def __init__(self, fields: dict[str, Any]) -> None:
        self.fields = fields

    def __str__(self) -> str:
        return " ".join(f"{key}={_value(value)}" for key, value in self.fields.items())


def _value(value: Any) -> str:
    if value == "":
        return "-"
    text = str(value)
    if text.isascii() and text.isprintable() and not any(c in text for c in ' "=\\'):
        return text
    return orjson.dumps(text).decode()  # quoted, with escapes: one line whatever it holds
