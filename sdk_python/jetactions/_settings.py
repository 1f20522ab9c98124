"""The action server's settings: each declared once, read from flags and the environment.

A flag wins over its environment variable, which wins over the default. Every problem is
reported at once, each naming the setting the way the user wrote it (``--grace`` or
``JETACTIONS_GRACE``), so one failed start shows everything to fix.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "DEFAULT_ADDRESS",
    "DEFAULT_MAX_MESSAGE_BYTES",
    "OLD_SECRET_ENV",
    "SETTINGS",
    "MissingExtraError",
    "Setting",
    "Settings",
    "SettingsError",
    "read",
]

DEFAULT_ADDRESS = "127.0.0.1:50051"
DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024
OLD_SECRET_ENV = "JETACTIONS_BRIDGE_SECRET"
LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

LogFormat = Literal["text", "json"]


class MissingExtraError(RuntimeError):
    """A setting needs an optional extra that is not installed; the message says which."""


class SettingsError(ValueError):
    """Settings that cannot be used; ``problems`` has one line per bad setting."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True, kw_only=True)
class Settings:
    """The settings of one action server process (see ``SETTINGS`` for each one's source)."""

    address: str = DEFAULT_ADDRESS
    bridge_secret: str = dataclasses.field(default="", repr=False)
    tls_cert_file: str = ""
    tls_key_file: str = ""
    tls_client_ca_file: str = ""
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    grace: float = 10.0
    log_format: LogFormat = "text"
    log_level: str = "INFO"
    metrics_port: int | None = None


def _address(text: str) -> str:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"{text!r} is not HOST:PORT")
    return text


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise ValueError(f"{text!r} is not a port number (0-65535)")
    return int(text)


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) <= 0:
        raise ValueError(f"{text!r} is not a positive whole number")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number of seconds") from None
    if not 0 <= value < float("inf"):
        raise ValueError(f"{text!r} is not a number of seconds >= 0")
    return value


def _choice(choices: tuple[str, ...], fold: Callable[[str], str]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if fold(text) not in choices:
            raise ValueError(f"{text!r} is not one of {', '.join(choices)}")
        return fold(text)

    return parse


def _secret(text: str) -> str:
    # Never echo the value: only its emptiness is worth reporting.
    if not text:
        raise ValueError("is set but empty: give the secret, or unset it to accept any caller")
    return text


def _file(text: str) -> str:
    if not os.path.isfile(text):
        raise ValueError(f"no such file {text!r}")
    return text


@dataclass(frozen=True)
class Setting:
    """One setting: the ``Settings`` field, its environment variable and flag."""

    field: str
    env: str
    flag: str
    parse: Callable[[str], Any]
    help: str
    metavar: str


# fmt: off
SETTINGS: tuple[Setting, ...] = (
    Setting("address", "JETACTIONS_ADDRESS", "--address", _address,
            f"host:port to listen on; port 0 picks one (default {DEFAULT_ADDRESS})", "HOST:PORT"),
    Setting("bridge_secret", "JETBRIDGE_SECRET", "--bridge-secret", _secret,
            "require this shared secret from the bridge (better given in the environment)",
            "SECRET"),
    Setting("tls_cert_file", "JETACTIONS_TLS_CERT_FILE", "--tls-cert-file", _file,
            "serve TLS with this PEM certificate chain", "PEM"),
    Setting("tls_key_file", "JETACTIONS_TLS_KEY_FILE", "--tls-key-file", _file,
            "the PEM private key of the TLS certificate", "PEM"),
    Setting("tls_client_ca_file", "JETACTIONS_TLS_CLIENT_CA_FILE", "--tls-client-ca-file", _file,
            "require client certificates signed by these CAs (mutual TLS)", "PEM"),
    Setting("max_message_bytes", "JETACTIONS_MAX_MESSAGE_BYTES", "--max-message-bytes",
            _positive_int, "limit on one message sent or received (default 16 MiB)", "BYTES"),
    Setting("grace", "JETACTIONS_GRACE", "--grace", _seconds,
            "seconds calls in flight get when stopping (default 10)", "SECONDS"),
    Setting("log_format", "JETACTIONS_LOG_FORMAT", "--log-format",
            _choice(LOG_FORMATS, str.lower), "text (default) or json, one object a line",
            "FORMAT"),
    Setting("log_level", "JETACTIONS_LOG_LEVEL", "--log-level", _choice(LOG_LEVELS, str.upper),
            "DEBUG, INFO (default), WARNING, ERROR or CRITICAL", "LEVEL"),
    Setting("metrics_port", "JETACTIONS_METRICS_PORT", "--metrics-port", _port,
            "serve Prometheus metrics on this port (off by default; needs jetactions[metrics])",
            "PORT"),
)
# fmt: on


def read(
    environ: Mapping[str, str] | None = None,
    flags: Mapping[str, str | None] | None = None,
    *,
    skip: Collection[str] = (),
    only: Collection[str] | None = None,
) -> tuple[Settings, set[str]]:
    """Reads the settings.

    Args:
        environ: The environment (``os.environ`` by default).
        flags: Raw flag values by ``Settings`` field; None means the flag was not given.
        skip: Fields given some other way (explicit arguments): neither read nor checked.
        only: Read only these fields.

    Returns:
        The settings and the names of the fields that were given (by flag or environment).

    Raises:
        SettingsError: Every problem found, one line each.
    """
    environ = os.environ if environ is None else environ
    flags = flags or {}
    problems: list[str] = []
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    if OLD_SECRET_ENV in environ:
        problems.append(f"{OLD_SECRET_ENV} is no longer read: name the secret JETBRIDGE_SECRET")
    for setting in SETTINGS:
        if setting.field in skip or (only is not None and setting.field not in only):
            continue
        flag = flags.get(setting.field)
        if flag is not None:
            text, source = flag, setting.flag
        elif setting.env in environ:
            text, source = environ[setting.env], setting.env
        else:
            continue
        try:
            values[setting.field] = setting.parse(text)
        except ValueError as error:
            problems.append(f"{source}: {error}")
            continue
        sources[setting.field] = source
    has_cert, has_key = "tls_cert_file" in sources, "tls_key_file" in sources
    if has_cert != has_key:
        given, missing = ("tls_cert_file", "tls_key_file")
        if has_key:
            given, missing = missing, given
        problems.append(f"{sources[given]} needs {_name(missing)} too")
    if "tls_client_ca_file" in sources and not has_cert:
        problems.append(f"{sources['tls_client_ca_file']} needs a TLS certificate and key too")
    if problems:
        raise SettingsError(problems)
    return Settings(**values), set(values)


def _name(field: str) -> str:
    setting = next(s for s in SETTINGS if s.field == field)
    return f"{setting.flag} (or {setting.env})"


def log_level_number(level: str) -> int:
    """The ``logging`` number of a checked level name."""
    number = logging.getLevelName(level)
    return number if isinstance(number, int) else logging.INFO
