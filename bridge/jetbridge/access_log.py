"""The access log: one line per request, in the format of the bridge's other lines.

Built without the logging module: a log record, its caller lookup and its time formatting cost
~10x the line itself (measured: ~150 µs against ~10 µs a request on a loaded 2-core machine),
which is why aiohttp's own access log halves the bridge's throughput. The line is formatted
once, with the time string cached per second, and lines leave in batches: one write to stderr
at most every `FLUSH_INTERVAL` (or per `FLUSH_LINES` lines), and at shutdown.

Values a client chooses (path, message and action names) are cut to `MAX_VALUE_CHARS`.
Credentials and raw header values never appear: the caller is its user id, project and auth
method.
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

from jetactions.contract import AUTH_SCHEMES
from jetactions.v1 import actions_pb2
from jetbridge.errors import bounded
from jetbridge.exchange import Exchange
from jetbridge.logs import ACCESS_LOGGER

MAX_VALUE_CHARS = 100
MAX_DETAIL_CHARS = 300
FLUSH_INTERVAL = 0.05
"""Seconds a line may wait for its batch: a write per request costs as much as the line."""
FLUSH_LINES = 256

# How a caller authenticated, by the Authorization scheme it used.
AUTH_METHOD_NAMES = {method: scheme for scheme, method in AUTH_SCHEMES.items()} | {
    actions_pb2.AUTH_METHOD_UNSPECIFIED: "none"
}


class AccessLog:
    """Writes access lines as text (`time INFO jetbridge.access: key=value ...`) or JSON."""

    def __init__(self, log_format: str, stream: TextIO | None = None) -> None:
        self.json = log_format == "json"
        self.stream = stream
        self._pending: list[str] = []
        self._timer: asyncio.TimerHandle | None = None
        self._second = -1
        self._prefix = ""

    def write(
        self, exchange: Exchange, method: str, path: str, status: int, duration: float, size: int
    ) -> None:
        """Queue the request's line for the next batch."""
        now = time.time()
        if not self.json:
            line = f"{self._time(now, iso=False)} INFO {ACCESS_LOGGER}: " + _text(
                exchange, method, path, status, duration, size
            )
        else:
            fields = _fields(exchange, method, path, status, duration, size)
            record = {
                "time": self._time(now, iso=True),
                "level": "INFO",
                "logger": ACCESS_LOGGER,
                "message": "request",
                **fields,
            }
            line = orjson.dumps(record).decode()
        self._pending.append(line)
        if len(self._pending) >= FLUSH_LINES:
            self.flush()
        elif self._timer is None:
            try:
                self._timer = asyncio.get_running_loop().call_later(FLUSH_INTERVAL, self.flush)
            except RuntimeError:  # no loop: write now
                self.flush()

    def flush(self) -> None:
        """Write the pending lines now."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._pending:
            return
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
        "method": bounded(method, MAX_VALUE_CHARS),
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
        **({"detail": bounded(exchange.detail, MAX_DETAIL_CHARS)} if exchange.detail else {}),
    }


_PLAIN = frozenset(' "=\\')


def _text(
    exchange: Exchange, method: str, path: str, status: int, duration: float, size: int
) -> str:
    """The same fields as `_fields`, as `key=value` pairs. Values only the bridge chooses
    (numbers, fixed words, configured names, a checked request id) need no quoting; `_value`
    bounds and quotes the others."""
    caller = exchange.caller
    if caller is not None:
        auth = AUTH_METHOD_NAMES.get(caller.auth_method) or "-"
        user, project = _value(caller.user_id), _value(caller.project)
    else:
        auth = user = project = "-"
    return (
        f"method={_value(method)} path={_value(path)} status={status} "
        f"message_name={_value(exchange.message)} action={_value(exchange.action)} "
        f"service={exchange.service or '-'} grpc_code={exchange.grpc_code or '-'} "
        f"duration_ms={duration * 1000:.3f} bytes_out={size} "
        f"request_id={exchange.request_id} auth={auth} user_id={user} project={project}"
        + (f" detail={_quoted(exchange.detail)}" if exchange.detail else "")
    )


# Printable ASCII but space, `"`, `=` and `\`, at most MAX_VALUE_CHARS: written as it is.
_SAFE = re.compile(rf"[!#-<>-\[\]-~]{{1,{MAX_VALUE_CHARS}}}")


def _quoted(text: str) -> str:
    """An error's detail, bounded and always quoted (it holds spaces)."""
    return orjson.dumps(bounded(text, MAX_DETAIL_CHARS)).decode()


# Most values repeat from line to line (method, path, message and action names, user ids):
# each is rendered once. Bounded: values made up by clients fill it once, then are rendered.
_rendered: dict[str, str] = {}
_MAX_RENDERED = 1024


def _value(value: str) -> str:
    rendered = _rendered.get(value)
    if rendered is None:
        rendered = _render(value)
        if len(_rendered) < _MAX_RENDERED and len(value) <= MAX_VALUE_CHARS:
            _rendered[value] = rendered
    return rendered


def _render(value: str) -> str:
    if _SAFE.fullmatch(value):  # the usual case, in one call
        return value
    if not value:
        return "-"
    text = bounded(value, MAX_VALUE_CHARS)
    if text.isascii() and text.isprintable() and _PLAIN.isdisjoint(text):
        return text
    return orjson.dumps(text).decode()  # quoted, with escapes: one line whatever it holds
