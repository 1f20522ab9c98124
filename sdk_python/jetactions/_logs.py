"""The SDK's log lines: a default handler when the application configured none, text or
JSON, and the request id and action of the call in progress on every line logged during it.

Every SDK module logs through the ``jetactions`` logger; its filter copies the call's
``request_id`` and ``action`` onto each record, so an application's own formatter can show
them too (``%(request_id)s``). The default handler has the same filter, so lines that handlers
log with their own loggers carry them as well.
"""

from __future__ import annotations

import contextvars
import json
import logging
import time
from collections.abc import Callable

from jetactions._settings import LogFormat, log_level_number

__all__ = ["JsonFormatter", "TextFormatter", "bind_call", "configure", "logger", "unbind_call"]

logger = logging.getLogger("jetactions")

# Structured fields the SDK passes in ``extra=``; JSON lines carry each one as a key.
_FIELDS = ("server", "address", "actions", "grace", "signal", "action", "request_id")


class _Call:
    """The call a log line is logged during; its request id is read on the first line."""

    __slots__ = ("_read", "_request_id", "action")

    def __init__(self, request_id: str | Callable[[], str], action: str) -> None:
        self._request_id: str | None = None
        self._read: Callable[[], str] | None = None
        if isinstance(request_id, str):
            self._request_id = request_id
        else:
            self._read = request_id
        self.action = action

    @property
    def request_id(self) -> str:
        if self._request_id is None:
            assert self._read is not None
            self._request_id = self._read()
        return self._request_id


_call: contextvars.ContextVar[_Call | None] = contextvars.ContextVar(
    "jetactions_call", default=None
)


def bind_call(request_id: str | Callable[[], str], action: str) -> contextvars.Token[_Call | None]:
    """Marks the current context (the call's task, and threads run in a copy of it).

    ``request_id`` may be a function that reads it: most calls log no line at all, and
    reading the call's metadata from gRPC costs several µs (``CallObserver``).
    """
    return _call.set(_Call(request_id, action))


def unbind_call(token: contextvars.Token[_Call | None]) -> None:
    """Ends what ``bind_call`` started."""
    _call.reset(token)


class _CallFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        call = _call.get()
        if call is not None:
            if call.request_id and not hasattr(record, "request_id"):
                record.request_id = call.request_id
            if call.action and not hasattr(record, "action"):
                record.action = call.action
        return True


_call_filter = _CallFilter()
logger.addFilter(_call_filter)


class TextFormatter(logging.Formatter):
    """``TIME LEVEL LOGGER: MESSAGE`` then ``action=... request_id=...`` when known."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        tags = [
            f"{key}={getattr(record, key)}"
            for key in ("action", "request_id")
            if getattr(record, key, "")
        ]
        return " ".join([line, *tags])


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, the SDK's fields, exception."""

    def format(self, record: logging.LogRecord) -> str:
        created = time.gmtime(record.created)
        entry: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", created) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in _FIELDS:
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(log_format: LogFormat, level: str) -> bool:
    """Sends log records to stderr in ``log_format`` at ``level``, unless the application has
    configured logging already (the root logger has a handler): then its choice stands.

    Returns:
        True when the handler was installed.
    """
    root = logging.getLogger()
    if root.handlers:
        return False
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    # On the handler too: the application's own lines logged during a call get the ids.
    handler.addFilter(_call_filter)
    root.addHandler(handler)
    root.setLevel(log_level_number(level))
    return True
