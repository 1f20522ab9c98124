"""The access log: one line per request, in the format of the bridge's other lines.

Built without the logging module: a log record, its caller lookup and its time formatting cost
~10x the line itself (measured: ~150 µs against ~10 µs a request on a loaded 2-core machine),
which is why aiohttp's own access log halves the bridge's throughput. The line is formatted
once, with the time string cached per second, and the lines of one event-loop iteration leave
in one write to stderr.

Values a client chooses (path, message and action names) are cut to `MAX_VALUE_CHARS`.
Credentials and raw header values never appear: the caller is its user id, project and auth
method.
"""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

from jetactions.v1 import actions_pb2
from jetbridge.exchange import Exchange
from jetbridge.logs import ACCESS_LOGGER, bounded

MAX_VALUE_CHARS = 100

AUTH_METHOD_NAMES = {
    actions_pb2.AUTH_METHOD_UNSPECIFIED: "none",
    actions_pb2.AUTH_METHOD_JWT: "JWT",
    actions_pb2.AUTH_METHOD_USER_TOKEN: "Token",
    actions_pb2.AUTH_METHOD_PROJECT_TOKEN: "ProjectToken",
    actions_pb2.AUTH_METHOD_BEARER: "Bearer",
}


class AccessLog:
    """Writes access lines as text (`time INFO jetbridge.access: key=value ...`) or JSON."""

    def __init__(self, log_format: str, stream: TextIO | None = None) -> None:
        self.json = log_format == "json"
        self.stream = stream
        self._pending: list[str] = []
        self._second = -1
        self._prefix = ""

    def write(
        self, exchange: Exchange, method: str, path: str, status: int, duration: float, size: int
    ) -> None:
        """Queue the request's line; it is written at the end of this loop iteration."""
        fields = _fields(exchange, method, path, status, duration, size)
        now = time.time()
        if self.json:
            record = {
                "time": self._time(now, iso=True),
                "level": "INFO",
                "logger": ACCESS_LOGGER,
                "message": "request",
                **fields,
            }
            line = orjson.dumps(record).decode()
        else:
            line = f"{self._time(now, iso=False)} INFO {ACCESS_LOGGER}: {_text(fields)}"
        if not self._pending:
            try:
                asyncio.get_running_loop().call_soon(self._flush)
            except RuntimeError:  # no loop: write now
                self._pending.append(line)
                self._flush()
                return
        self._pending.append(line)

    def _flush(self) -> None:
        lines, self._pending = self._pending, []
        stream = self.stream or sys.stderr  # looked up late: tests and daemons swap it
        stream.write("\n".join(lines) + "\n")
        stream.flush()

    def _time(self, now: float, iso: bool) -> str:
        """As the text and JSON formatters of logs.py print it, computed once a second."""
        second = int(now)
        if second != self._second:
            self._second = second
            if self.json:
                self._prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            else:
                self._prefix = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        millis = int((now - second) * 1000)
        return f"{self._prefix}.{millis:03d}+00:00" if iso else f"{self._prefix},{millis:03d}"


def _fields(
    exchange: Exchange, method: str, path: str, status: int, duration: float, size: int
) -> dict[str, Any]:
    caller = exchange.caller
    return {
        "method": method,
        "path": bounded(path, MAX_VALUE_CHARS),
        "status": status,
        "message_name": bounded(exchange.message, MAX_VALUE_CHARS),
        "action": bounded(exchange.action, MAX_VALUE_CHARS),
        "service": exchange.service,
        "grpc_code": exchange.grpc_code,
        "duration_ms": round(duration * 1000, 3),
        "bytes_out": size,
        "request_id": exchange.request_id,
        "auth": AUTH_METHOD_NAMES.get(caller.auth_method, "") if caller is not None else "",
        "user_id": bounded(caller.user_id, MAX_VALUE_CHARS) if caller is not None else "",
        "project": bounded(caller.project, MAX_VALUE_CHARS) if caller is not None else "",
    }


_PLAIN = frozenset(' "=\\')
# Values that only the bridge chooses (numbers, fixed words, configured names, a checked request
# id) need no quoting; the others may hold anything.
_CHOSEN_BY_CLIENT = ("path", "message_name", "action", "user_id", "project")


def _text(fields: dict[str, Any]) -> str:
    f = {key: fields[key] or "-" for key in fields}
    for key in _CHOSEN_BY_CLIENT:
        f[key] = _value(fields[key])
    return (
        f"method={f['method']} path={f['path']} status={f['status']} "
        f"message_name={f['message_name']} action={f['action']} service={f['service']} "
        f"grpc_code={f['grpc_code']} duration_ms={fields['duration_ms']} "
        f"bytes_out={fields['bytes_out']} request_id={f['request_id']} auth={f['auth']} "
        f"user_id={f['user_id']} project={f['project']}"
    )


def _value(value: Any) -> str:
    if value == "":
        return "-"
    text = str(value)
    if text.isascii() and text.isprintable() and _PLAIN.isdisjoint(text):
        return text
    return orjson.dumps(text).decode()  # quoted, with escapes: one line whatever it holds
