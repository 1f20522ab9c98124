"""Bridge settings: from command-line flags, environment variables and a TOML file.

Precedence: flags, then environment, then the file named by `--config` (or `JETBRIDGE_CONFIG`),
then defaults. Settings that the reference jet-bridge server also has keep its environment names
(ADDRESS, PORT, DISABLE_AUTH, ...); the bridge's own ones start with `JETBRIDGE_`. Everything is
validated once at start; a bad value stops the bridge with a message that names the setting.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from jetbridge import inprocess

MiB = 1024 * 1024


class ConfigError(ValueError):
    """A setting is missing or invalid; the message says which and why."""


@dataclass(frozen=True, kw_only=True)
class ServiceConfig:
    """One action server (or one set of replicas) the bridge calls."""

    name: str
    """Name used in logs, errors and routing tables."""
    target: str
    """gRPC target: `host:port`, several comma-separated `host:port`, or `dns:///host:port`."""
    timeout: float
    """Deadline of one call, in seconds, unless the action declares a smaller one."""
    secret: str = dataclasses.field(default="", repr=False)
    """Sent as `x-jetbridge-secret` metadata, for action servers that only accept the bridge."""
    max_concurrent_calls: int = 100
    """Calls in flight at most; more are refused with 503 at once instead of queueing."""
    tls: bool = False
    """Call the service over TLS (implied by any of the files below)."""
    ca_file: str = ""
    """PEM of the CAs that sign the service's certificate; empty means the system's."""
    cert_file: str = ""
    """PEM certificate chain the bridge presents (mutual TLS), with `key_file`."""
    key_file: str = ""
    """PEM private key of `cert_file`."""
    server_name: str = ""
    """Name expected in the service's certificate, when it differs from the target's host."""

    @property
    def uses_tls(self) -> bool:
        """TLS was asked for, or is implied by a CA, a client certificate or a server name."""
        return self.tls or bool(self.ca_file or self.cert_file or self.server_name)


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Every setting of the bridge, validated."""

    address: str = "0.0.0.0"
    port: int = 8888
    services: tuple[ServiceConfig, ...] = ()
    call_timeout: float = 10.0
    discovery_timeout: float = 3.0
    refresh_interval: float = 60.0
    retry_max_interval: float = 5.0
    max_body_bytes: int = 1 * MiB
    max_message_bytes: int = 16 * MiB
    max_call_timeout: float = 60.0
    body_timeout: float = 30.0
    workers: int = 1
    disable_auth: bool = False
    log_level: str = "INFO"
    bridge_secret: str = dataclasses.field(default="", repr=False)
    # Authentication; names as in the reference jet-bridge (docs/jet-admin.md).
    project: str = ""
    token: str = dataclasses.field(default="", repr=False)
    environment: str = ""
    jwt_verify_key: str = dataclasses.field(default="", repr=False)
    """PEM of the RSA key that verifies JWTs; empty means Jet Admin's own key."""
    bearer_auth_key: tuple[str, ...] = dataclasses.field(default=(), repr=False)
    api_base_url: str = "https://api.jetadmin.io/api"
    jwt_leeway: float = 10.0
    auth_cache_ttl: float = 60.0
    auth_failure_cache_ttl: float = 5.0
    auth_cache_size: int = 10_000
    auth_timeout: float = 5.0
    forward_token: bool = False
    # CORS, answered to the browser that runs Jet Admin.
    cors_headers: bool = True
    allow_origin: tuple[str, ...] = ("*",)
    cors_max_age: int = 86_400
    # Observability (docs/observability.md).
    log_format: str = "text"
    """`text` or `json` (one object a line), for the bridge's own logs and the access log."""
    access_log: bool = True
    """One line per request on the `jetbridge.access` logger."""
    metrics_port: int = 0
    """Port of the Prometheus `/metrics` listener (on `address`); 0: no metrics at all."""

    def service(self, name: str) -> ServiceConfig:
        """The configured service called `name`."""
        for service in self.services:
            if service.name == name:
                return service
        raise KeyError(name)


@dataclass(frozen=True)
class _Option:
    """How one setting is read and checked."""

    name: str
    env: str
    parse: Callable[[Any], Any]


def _positive_float(value: Any) -> float:
    number = float(value)
    if not number > 0 or number == float("inf"):
        raise ValueError("must be a positive number of seconds")
    return number


def _positive_int(value: Any) -> int:
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError("must be a whole number")
    try:
        number = int(value)
    except ValueError:
        raise ValueError("must be a whole number") from None
    if number <= 0:
        raise ValueError("must be positive")
    return number


def _port(value: Any) -> int:
    number = _positive_int(value)
    if number > 65535:
        raise ValueError("must be between 1 and 65535")
    return number


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError("must be true or false")


def _log_level(value: Any) -> str:
    level = str(value).upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
    return level


def _log_format(value: Any) -> str:
    text = str(value).strip().lower()
    if text not in {"text", "json"}:
        raise ValueError("must be text or json")
    return text


def _nonempty(value: Any) -> str:
    text = str(value).strip()
    if not text:
        raise ValueError("must not be empty")
    return text


def _text(value: Any) -> str:
    return str(value).strip()


def _non_negative_float(value: Any) -> float:
    number = float(value)
    if not number >= 0 or number == float("inf"):
        raise ValueError("must be zero or a positive number of seconds")
    return number


def _list(value: Any) -> list[str]:
    """A list from TOML, or a comma-separated string from a flag or the environment."""
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    return [str(item).strip() for item in items if str(item).strip()]


def _keys(value: Any) -> tuple[str, ...]:
    # Never echo a secret in an error: this parser accepts every value.
    return tuple(_list(value))


def _origins(value: Any) -> tuple[str, ...]:
    origins = [origin.rstrip("/") for origin in _list(value)]
    if not origins:
        raise ValueError("must be * or a comma-separated list of origins")
    if "*" in origins:
        return ("*",)
    for origin in origins:
        if not re.fullmatch(r"https?://[^/\s?#]+", origin):
            raise ValueError(f"{origin!r} is not an origin like https://app.jetadmin.io")
    return tuple(origins)


def _url(value: Any) -> str:
    url = str(value).strip().rstrip("/")
    if not re.fullmatch(r"https?://\S+", url):
        raise ValueError("must be an http:// or https:// URL")
    return url


def _verify_key(value: Any) -> str:
    """PEM text (`\\n` escapes allowed, as the reference accepts) or the path of a PEM file."""
    text = str(value).strip().replace("\\n", "\n")
    text = "\n".join(line.strip() for line in text.splitlines())
    if not text:
        return ""
    if not text.startswith("-----BEGIN"):
        try:
            text = Path(text).read_text()
        except OSError as error:
            raise ValueError(f"is neither PEM text nor a readable file: {error.strerror}") from None
    try:
        key = load_pem_public_key(text.encode())
    except ValueError:
        raise ValueError("is not a PEM public key") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("must be an RSA public key (Jet Admin signs with RS256)")
    if key.key_size < 2048:
        raise ValueError("is shorter than 2048 bits")
    return text


_OPTIONS = (
    _Option("address", "ADDRESS", _nonempty),
    _Option("port", "PORT", _port),
    _Option("call_timeout", "JETBRIDGE_CALL_TIMEOUT", _positive_float),
    _Option("discovery_timeout", "JETBRIDGE_DISCOVERY_TIMEOUT", _positive_float),
    _Option("refresh_interval", "JETBRIDGE_REFRESH_INTERVAL", _positive_float),
    _Option("retry_max_interval", "JETBRIDGE_RETRY_MAX_INTERVAL", _positive_float),
    _Option("max_body_bytes", "JETBRIDGE_MAX_BODY_BYTES", _positive_int),
    _Option("max_message_bytes", "JETBRIDGE_MAX_MESSAGE_BYTES", _positive_int),
    _Option("max_call_timeout", "JETBRIDGE_MAX_CALL_TIMEOUT", _positive_float),
    _Option("body_timeout", "JETBRIDGE_BODY_TIMEOUT", _positive_float),
    _Option("workers", "JETBRIDGE_WORKERS", _positive_int),
    _Option("disable_auth", "DISABLE_AUTH", _bool),
    _Option("log_level", "JETBRIDGE_LOG_LEVEL", _log_level),
    _Option("project", "PROJECT", _text),
    _Option("token", "TOKEN", _text),
    _Option("environment", "ENVIRONMENT", _text),
    _Option("jwt_verify_key", "JWT_VERIFY_KEY", _verify_key),
    _Option("bearer_auth_key", "BEARER_AUTH_KEY", _keys),
    _Option("api_base_url", "API_BASE_URL", _url),
    _Option("jwt_leeway", "JETBRIDGE_JWT_LEEWAY", _non_negative_float),
    _Option("auth_cache_ttl", "JETBRIDGE_AUTH_CACHE_TTL", _non_negative_float),
    _Option("auth_failure_cache_ttl", "JETBRIDGE_AUTH_FAILURE_CACHE_TTL", _non_negative_float),
    _Option("auth_cache_size", "JETBRIDGE_AUTH_CACHE_SIZE", _positive_int),
    _Option("auth_timeout", "JETBRIDGE_AUTH_TIMEOUT", _positive_float),
    _Option("forward_token", "JETBRIDGE_FORWARD_TOKEN", _bool),
    _Option("cors_headers", "CORS_HEADERS", _bool),
    _Option("allow_origin", "ALLOW_ORIGIN", _origins),
    _Option("cors_max_age", "JETBRIDGE_CORS_MAX_AGE", _positive_int),
    _Option("bridge_secret", "JETBRIDGE_SECRET", str),
    _Option("log_format", "JETBRIDGE_LOG_FORMAT", _log_format),
    _Option("access_log", "JETBRIDGE_ACCESS_LOG", _bool),
    _Option("metrics_port", "JETBRIDGE_METRICS_PORT", _port),
)
SERVICES_ENV = "JETBRIDGE_SERVICES"
CONFIG_ENV = "JETBRIDGE_CONFIG"

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def environment_names() -> dict[str, str]:
    """Setting name → environment variable, for the documentation and `--help`."""
    names = {option.name: option.env for option in _OPTIONS}
    return names | _SERVICE_DEFAULTS_ENV | {"services": SERVICES_ENV}


def parse_service_spec(spec: str) -> dict[str, str]:
    """Parse `[NAME=]TARGET` as given on the command line or in JETBRIDGE_SERVICES."""
    name, sep, target = spec.partition("=")
    if not sep:
        name, target = "", spec
    return {"name": name.strip(), "target": target.strip()}


def load_settings(
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    config_file: str | Path | None = None,
) -> Settings:
    """Merge flags, environment and the config file into validated settings.

    `flags` holds only what was given on the command line (None values are ignored); its
    `services` entry is a list of `[NAME=]TARGET` strings.
    """
    environ = os.environ if environ is None else environ
    flags = {key: value for key, value in (flags or {}).items() if value is not None}
    path = config_file or environ.get(CONFIG_ENV)
    raw: dict[str, Any] = _read_toml(Path(path)) if path else {}

    for option in _OPTIONS:
        if option.env in environ:
            raw[option.name] = environ[option.env]
    for key, env in _SERVICE_DEFAULTS_ENV.items():
        if env in environ:
            raw[key] = environ[env]
    if environ.get(SERVICES_ENV):
        # Entries are separated by spaces or semicolons; commas stay inside one target.
        specs = re.split(r"[;\s]+", environ[SERVICES_ENV])
        raw["services"] = [parse_service_spec(spec) for spec in specs if spec]
    for key, value in flags.items():
        raw[key] = [parse_service_spec(spec) for spec in value] if key == "services" else value
    return _validate(raw)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except OSError as error:
        raise ConfigError(f"config file {path}: {error.strerror}") from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {path}: invalid TOML: {error}") from error


def _validate(raw: Mapping[str, Any]) -> Settings:
    known = {option.name for option in _OPTIONS} | {"services", *_SERVICE_DEFAULTS_ENV}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for option in _OPTIONS:
        if option.name in raw:
            try:
                values[option.name] = option.parse(raw[option.name])
            except (TypeError, ValueError) as error:
                raise ConfigError(
                    f"{option.name} ({option.env}): {raw[option.name]!r} {error}"
                ) from None
    defaults = {
        "timeout": values.get("call_timeout", Settings.call_timeout),
        "secret": values.get("bridge_secret", ""),
    }
    # Top-level per-service keys (file, environment, flags) apply to every service.
    defaults.update({key: raw[key] for key in _SERVICE_DEFAULTS_ENV if key in raw})
    values["services"] = _validate_services(raw.get("services", ()), defaults)
    settings = Settings(**values)
    # A message carries the form inputs twice (`inputs`, and inside `message_params`).
    if settings.max_message_bytes < 2 * settings.max_body_bytes + 64 * 1024:
        raise ConfigError(
            "max_message_bytes must be at least twice max_body_bytes plus 64 KiB, or a large "
            "accepted body could not be sent on to the action server"
        )
    return settings


def _validate_services(
    entries: Sequence[Any], defaults: Mapping[str, Any]
) -> tuple[ServiceConfig, ...]:
    if not isinstance(entries, list | tuple):
        raise ConfigError("services: must be a list of tables with `name` and `target`")
    if not entries:
        raise ConfigError(
            "no action servers configured: give --service [NAME=]HOST:PORT, "
            f"{SERVICES_ENV}, or [[services]] in the config file"
        )
    services: list[ServiceConfig] = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            raise ConfigError(f"services[{index}]: must be a table with `name` and `target`")
        services.append(_validate_service(index, entry, defaults))
    names = [service.name for service in services]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise ConfigError(f"services: duplicate name(s) {', '.join(duplicated)}")
    return tuple(services)


def _validate_service(
    index: int, entry: Mapping[str, Any], defaults: Mapping[str, Any]
) -> ServiceConfig:
    where = f"services[{index}]"
    extra = sorted(set(entry) - {"name", "target", *_SERVICE_KEYS})
    if extra:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(extra)}")
    target = str(entry.get("target", "")).strip()
    if not target:
        raise ConfigError(f"{where}: `target` (HOST:PORT) is required")
    if inprocess.is_inprocess(target):
        # Imported now, so that a wrong module or attribute stops the bridge with a message.
        try:
            inprocess.resolve(target)
        except ValueError as error:
            raise ConfigError(f"{where}: {error}") from None
    else:
        for address in _addresses(target):
            if not re.fullmatch(r"(\[[0-9a-fA-F:]+\]|[^\s:/\[\]]+):\d{1,5}", address):
                raise ConfigError(f"{where}: target {address!r} is not HOST:PORT")
    name = str(entry.get("name") or target).strip()
    if not entry.get("name"):
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "service"
    if not _NAME.match(name):
        raise ConfigError(f"{where}: name {name!r} may hold only letters, digits, _ . -")
    values: dict[str, Any] = {}
    for key, parse in _SERVICE_KEYS.items():
        if key in entry or key in defaults:
            value = entry.get(key, defaults.get(key))
            try:
                values[key] = parse(value)
            except (TypeError, ValueError) as error:
                shown = "***" if key == "secret" else repr(value)
                raise ConfigError(f"{where} ({name}): {key} {shown} {error}") from None
    if bool(values.get("cert_file")) != bool(values.get("key_file")):
        raise ConfigError(f"{where} ({name}): cert_file and key_file go together (mutual TLS)")
    return ServiceConfig(name=name, target=target, **values)


def _readable_file(value: Any) -> str:
    path = str(value).strip()
    if path and not os.access(path, os.R_OK):
        raise ValueError("is not a readable file")
    return path


# Per-service keys of [[services]] tables, and how each is checked.
_SERVICE_KEYS: dict[str, Callable[[Any], Any]] = {
    "timeout": _positive_float,
    "secret": str,
    "max_concurrent_calls": _positive_int,
    "tls": _bool,
    "ca_file": _readable_file,
    "cert_file": _readable_file,
    "key_file": _readable_file,
    "server_name": _text,
}
# Environment variables that set a per-service key for every service at once.
_SERVICE_DEFAULTS_ENV = {
    "max_concurrent_calls": "JETBRIDGE_MAX_CONCURRENT_CALLS",
    "tls": "JETBRIDGE_TLS",
    "ca_file": "JETBRIDGE_TLS_CA_FILE",
    "cert_file": "JETBRIDGE_TLS_CERT_FILE",
    "key_file": "JETBRIDGE_TLS_KEY_FILE",
}


def _addresses(target: str) -> list[str]:
    """The host:port parts of a target; a `scheme:///` target is left to gRPC to resolve."""
    if "://" in target:
        return []
    return [part.strip() for part in target.split(",")]
