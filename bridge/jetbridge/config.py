"""Bridge settings: each declared once, read from flags, environment variables and a TOML file.

A setting is one field of `Settings` whose metadata (`_setting(...)`) holds everything else about
it: its environment variable, its flag, how a value is parsed and checked, its help text, and
the per-service key it is the default of. The argparse flags (`add_flags`), the environment
mapping and the README table check are all generated from those declarations.

Precedence: flags, then environment, then the file named by `--config` (or `JETBRIDGE_CONFIG`),
then defaults. Settings that the reference jet-bridge server also has keep its environment names
(ADDRESS, PORT, DISABLE_AUTH, ...); the bridge's own ones start with `JETBRIDGE_`. Every invalid
setting is reported at once, each under the name the user wrote (flag, variable or TOML key).
A `Settings` built in code is validated the same way, in `__post_init__`.
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import os
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

MiB = 1024 * 1024
CONFIG_ENV = "JETBRIDGE_CONFIG"
SERVICES_ENV = "JETBRIDGE_SERVICES"


class ConfigError(ValueError):
    """Settings are missing or invalid; the message names each one and says why."""

    def __init__(self, problems: str | Sequence[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


# --- value parsers: each takes what a flag, a variable, TOML or code gave, and returns the
# --- setting's value, or raises ValueError with a sentence that completes "<name> <value> ...".


def _positive_float(value: Any) -> float:
    number = float(value)
    if not number > 0 or number == float("inf"):
        raise ValueError("must be a positive number of seconds")
    return number


def _non_negative_float(value: Any) -> float:
    number = float(value)
    if not number >= 0 or number == float("inf"):
        raise ValueError("must be zero or a positive number of seconds")
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


def _log_format(value: Any) -> str:
    text = str(value).strip().lower()
    if text not in {"text", "json"}:
        raise ValueError("must be text or json")
    return text


def _listen_port(value: Any) -> int:
    if str(value).strip() == "0":
        return 0  # any free port: the start line names it
    number = _positive_int(value)
    if number > 65535:
        raise ValueError("must be between 0 (any free port) and 65535")
    return number


def _port_or_off(value: Any) -> int:
    if str(value).strip() in {"", "0"}:
        return 0
    return _port(value)


def _log_level(value: Any) -> str:
    level = str(value).upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
    return level


def _nonempty(value: Any) -> str:
    text = str(value).strip()
    if not text:
        raise ValueError("must not be empty")
    return text


def _text(value: Any) -> str:
    return str(value).strip()


def _secret(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    return value


def _list(value: Any) -> list[str]:
    """A list from TOML or code, or a comma-separated string from a flag or the environment."""
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    return [str(item).strip() for item in items if str(item).strip()]


def _keys(value: Any) -> tuple[str, ...]:
    return tuple(_list(value))


def _origins(value: Any) -> tuple[str, ...]:
    origins = [origin.rstrip("/") for origin in _list(value)]
    if not origins:
        raise ValueError("must be * or a comma-separated list of origins")
    if "*" in origins:
        return ("*",)
    for origin in origins:
        if not re.fullmatch(r"https?://[^/\s?#]+", origin):
            raise ValueError(f"has {origin[:80]!r}, not an origin like https://app.jetadmin.io")
    return tuple(origins)


def _url(value: Any) -> str:
    url = str(value).strip().rstrip("/")
    if not re.fullmatch(r"https?://\S+", url):
        raise ValueError("must be an http:// or https:// URL")
    return url


def _readable_file(value: Any) -> str:
    path = str(value).strip()
    if path and not os.access(path, os.R_OK):
        raise ValueError("is not a readable file")
    return path


def _pem_lines(text: str) -> str:
    text = text.strip().replace("\\n", "\n")
    return "\n".join(line.strip() for line in text.splitlines())


def _verify_key(value: Any) -> str:
    """PEM text (`\\n` escapes allowed, as the reference accepts) or the path of a PEM file."""
    text = _pem_lines(str(value))
    if not text:
        return ""
    if not text.startswith("-----BEGIN"):
        try:
            text = _pem_lines(Path(text).read_text())
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


# --- declarations


@dataclass(frozen=True)
class Setting:
    """Everything about one setting but its type and default (the field has those)."""

    env: str
    parse: Callable[[Any], Any]
    help: str
    key: str = ""
    """The TOML key, which names the setting everywhere; defaults to the field's name."""
    flag: str = ""
    """Defaults to `--` and the key with dashes."""
    metavar: str | None = None
    secret: bool = False
    """Never echoed in an error, a log line or a repr."""
    service_key: str = ""
    """The per-service key (of a `[[services]]` table) whose default this setting is."""


def _setting(default: Any, env: str, parse: Callable[[Any], Any], help: str, **more: Any) -> Any:
    """A field of a settings group declared with everything about it (see `Setting`)."""
    setting = Setting(env=env, parse=parse, help=help, **more)
    return dataclasses.field(default=default, repr=not setting.secret, metadata={"s": setting})


class _Group:
    """A group of settings (a frozen dataclass of `_setting` fields), parsed and checked on
    creation; problems are named by TOML key, as the user would write them."""

    def __post_init__(self) -> None:
        problems = []
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            setting: Setting = field.metadata["s"]
            value = getattr(self, field.name)
            try:
                object.__setattr__(self, field.name, setting.parse(value))
            except (TypeError, ValueError) as error:
                problems.append(_problem(setting.key or field.name, setting, value, error))
        problems += self._conflicts() if not problems else []
        if problems:
            raise ConfigError(problems)

    def _conflicts(self) -> list[str]:
        """Problems of settings of the group that only make sense together."""
        return []


@dataclass(frozen=True, kw_only=True)
class HTTP(_Group):
    """The HTTP side: where the bridge listens, in how many processes, and what it serves."""

    address: str = _setting("0.0.0.0", "ADDRESS", _nonempty, "listen address")
    port: int = _setting(8888, "PORT", _listen_port, "listen port; 0: any free one")
    workers: int = _setting(
        1, "JETBRIDGE_WORKERS", _positive_int, "bridge processes sharing the port"
    )
    console: bool = _setting(
        False,
        "JETBRIDGE_CONSOLE",
        _bool,
        "serve the console at /console/ (a loopback address only, unless authentication is on)",
    )

    def _conflicts(self) -> list[str]:
        if self.port == 0 and self.workers > 1:
            return ["port 0 (any free port) cannot be shared by several workers: give a port"]
        return []


@dataclass(frozen=True, kw_only=True)
class Limits(_Group):
    """Bounds on connections, on what the browser sends and on what travels to action servers."""

    max_connections: int = _setting(
        10_000,
        "JETBRIDGE_MAX_CONNECTIONS",
        _positive_int,
        "open connections at most (also bounded by the file-descriptor limit)",
    )
    keepalive_timeout: float = _setting(
        30.0,
        "JETBRIDGE_KEEPALIVE_TIMEOUT",
        _positive_float,
        "seconds an idle connection, or one still sending its headers, stays open",
    )
    max_body_bytes: int = _setting(
        1 * MiB, "JETBRIDGE_MAX_BODY_BYTES", _positive_int, "largest HTTP body (413 above)"
    )
    max_message_bytes: int = _setting(
        16 * MiB,
        "JETBRIDGE_MAX_MESSAGE_BYTES",
        _positive_int,
        "largest gRPC message either way",
    )
    body_timeout: float = _setting(
        30.0,
        "JETBRIDGE_BODY_TIMEOUT",
        _positive_float,
        "seconds to receive a request body (408 after)",
    )

    def _conflicts(self) -> list[str]:
        # A message carries the form inputs twice (`inputs`, and inside `message_params`).
        if self.max_message_bytes < 2 * self.max_body_bytes + 64 * 1024:
            return [
                "max_message_bytes must be at least twice max_body_bytes plus 64 KiB, or a "
                "large accepted body could not be sent on to the action server"
            ]
        return []


@dataclass(frozen=True, kw_only=True)
class Calls(_Group):
    """How the bridge calls action servers and discovers them (defaults of every service)."""

    timeout: float = _setting(
        10.0,
        "JETBRIDGE_CALL_TIMEOUT",
        _positive_float,
        "default deadline of a call, s",
        key="call_timeout",
        service_key="timeout",
    )
    max_timeout: float = _setting(
        60.0,
        "JETBRIDGE_MAX_CALL_TIMEOUT",
        _positive_float,
        "cap on every call's deadline, s",
        key="max_call_timeout",
    )
    max_concurrent_calls: int = _setting(
        100,
        "JETBRIDGE_MAX_CONCURRENT_CALLS",
        _positive_int,
        "calls in flight per service before 503",
        service_key="max_concurrent_calls",
    )
    discovery_timeout: float = _setting(
        3.0, "JETBRIDGE_DISCOVERY_TIMEOUT", _positive_float, "deadline of one ListActions, s"
    )
    refresh_interval: float = _setting(
        60.0, "JETBRIDGE_REFRESH_INTERVAL", _positive_float, "re-discovery period, s"
    )
    retry_max_interval: float = _setting(
        5.0,
        "JETBRIDGE_RETRY_MAX_INTERVAL",
        _positive_float,
        "longest wait between retries of a down service, s",
    )
    secret: str = _setting(
        "",
        "JETBRIDGE_SECRET",
        _secret,
        "shared secret sent to action servers as x-jetbridge-secret",
        key="bridge_secret",
        flag="--secret",
        secret=True,
        service_key="secret",
    )


@dataclass(frozen=True, kw_only=True)
class TLS(_Group):
    """TLS of the calls to action servers (defaults of every service)."""

    enabled: bool = _setting(
        False,
        "JETBRIDGE_TLS",
        _bool,
        "call action servers over TLS",
        key="tls",
        service_key="tls",
    )
    ca_file: str = _setting(
        "",
        "JETBRIDGE_TLS_CA_FILE",
        _readable_file,
        "CAs of the action servers' certificates (PEM)",
        flag="--tls-ca-file",
        service_key="ca_file",
    )
    cert_file: str = _setting(
        "",
        "JETBRIDGE_TLS_CERT_FILE",
        _readable_file,
        "the bridge's certificate for mutual TLS (PEM)",
        flag="--tls-cert-file",
        service_key="cert_file",
    )
    key_file: str = _setting(
        "",
        "JETBRIDGE_TLS_KEY_FILE",
        _readable_file,
        "the key of --tls-cert-file (PEM)",
        flag="--tls-key-file",
        service_key="key_file",
    )


@dataclass(frozen=True, kw_only=True)
class Auth(_Group):
    """Who may call the bridge; names as in the reference jet-bridge (docs/jet-admin.md)."""

    disabled: bool = _setting(
        False,
        "DISABLE_AUTH",
        _bool,
        "development only: accept requests without credentials",
        key="disable_auth",
    )
    project: str = _setting("", "PROJECT", _text, "Jet Admin project name; enables JWT")
    token: str = _setting(
        "", "TOKEN", _text, "project token; enables Token and ProjectToken", secret=True
    )
    environment: str = _setting("", "ENVIRONMENT", _text, "Jet Admin environment name")
    jwt_verify_key: str = _setting(
        "",
        "JWT_VERIFY_KEY",
        _verify_key,
        "RSA public key of JWTs (PEM text or file), default Jet Admin's",
        metavar="PEM_OR_FILE",
        secret=True,
    )
    bearer_keys: tuple[str, ...] = _setting(
        (),
        "BEARER_AUTH_KEY",
        _keys,
        "static Bearer keys, comma-separated (several for rotation)",
        key="bearer_auth_key",
        metavar="KEY[,KEY...]",
        secret=True,
    )
    api_base_url: str = _setting(
        "https://api.jetadmin.io/api", "API_BASE_URL", _url, "Jet Admin's API"
    )
    jwt_leeway: float = _setting(
        10.0, "JETBRIDGE_JWT_LEEWAY", _non_negative_float, "allowed clock skew, s"
    )
    cache_ttl: float = _setting(
        60.0,
        "JETBRIDGE_AUTH_CACHE_TTL",
        _non_negative_float,
        "cache an allowed credential, s",
        key="auth_cache_ttl",
    )
    failure_cache_ttl: float = _setting(
        5.0,
        "JETBRIDGE_AUTH_FAILURE_CACHE_TTL",
        _non_negative_float,
        "cache a refused credential, s",
        key="auth_failure_cache_ttl",
    )
    cache_size: int = _setting(
        10_000,
        "JETBRIDGE_AUTH_CACHE_SIZE",
        _positive_int,
        "credentials cached per kind",
        key="auth_cache_size",
    )
    timeout: float = _setting(
        5.0,
        "JETBRIDGE_AUTH_TIMEOUT",
        _positive_float,
        "deadline of Jet Admin's API, s",
        key="auth_timeout",
    )
    forward_token: bool = _setting(
        False, "JETBRIDGE_FORWARD_TOKEN", _bool, "send the raw credential to action servers"
    )


@dataclass(frozen=True, kw_only=True)
class Cors(_Group):
    """CORS headers, answered to the browser that runs Jet Admin."""

    enabled: bool = _setting(True, "CORS_HEADERS", _bool, "send CORS headers", key="cors_headers")
    allow_origin: tuple[str, ...] = _setting(
        ("*",),
        "ALLOW_ORIGIN",
        _origins,
        "allowed origins: * or a comma-separated list",
        metavar="ORIGIN[,ORIGIN...]",
    )
    max_age: int = _setting(
        86_400, "JETBRIDGE_CORS_MAX_AGE", _positive_int, "preflight cache, s", key="cors_max_age"
    )


@dataclass(frozen=True, kw_only=True)
class Observability(_Group):
    """The bridge's logs and metrics (docs/observability.md; tracing is set by OTEL_*)."""

    log_level: str = _setting(
        "INFO", "JETBRIDGE_LOG_LEVEL", _log_level, "DEBUG, INFO, WARNING or ERROR"
    )
    log_format: str = _setting(
        "text",
        "JETBRIDGE_LOG_FORMAT",
        _log_format,
        "text, or json: one object a line (own logs and access log)",
    )
    access_log: bool = _setting(True, "JETBRIDGE_ACCESS_LOG", _bool, "one log line per request")
    metrics_port: int = _setting(
        0,
        "JETBRIDGE_METRICS_PORT",
        _port_or_off,
        "serve Prometheus /metrics on this port (no auth: keep it private); 0: off",
    )


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_ADDRESS = re.compile(r"(\[[0-9a-fA-F:]+\]|[^\s:/\[\]]+):\d{1,5}")
INPROCESS_PREFIX = "inprocess:"
_INPROCESS = re.compile(re.escape(INPROCESS_PREFIX) + r"[^:\s]+:[A-Za-z_][A-Za-z0-9_.]*")


def is_inprocess(target: str) -> bool:
    """`inprocess:MODULE:ATTR` targets run a Python ActionServer inside the bridge."""
    return target.startswith(INPROCESS_PREFIX)


@dataclass(frozen=True, kw_only=True)
class ServiceConfig:
    """One action server (or one set of replicas) the bridge calls; validated on creation."""

    name: str = ""
    """Name used in logs, errors and routing tables; empty: the name the server declares."""
    target: str
    """gRPC target: `host:port`, several comma-separated `host:port`, `dns:///host:port`, or
    `inprocess:MODULE:ATTR`."""
    timeout: float = 10.0
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

    def __post_init__(self) -> None:
        problems = list(self._problems())
        if problems:
            raise ConfigError(problems)

    def _problems(self) -> Iterator[str]:
        where = f"service {self.name or self.target[:100]!r}"
        if self.name and not _NAME.fullmatch(self.name):
            yield f"{where}: name may hold only letters, digits, _ . -"
        if not self.target.strip():
            yield f"{where}: `target` (HOST:PORT) is required"
        elif is_inprocess(self.target):
            # Only the shape: the module is imported when the app starts.
            if not _INPROCESS.fullmatch(self.target):
                yield f"{where}: target must look like inprocess:MODULE:ATTR"
        elif "://" not in self.target:
            for address in self.target.split(","):
                if not _ADDRESS.fullmatch(address.strip()):
                    yield f"{where}: target {address.strip()[:100]!r} is not HOST:PORT"
        for key, parse in SERVICE_KEYS.items():
            try:
                object.__setattr__(self, key, parse(getattr(self, key)))
            except (TypeError, ValueError) as error:
                shown = "***" if key == "secret" else repr(getattr(self, key))[:100]
                yield f"{where}: {key} {shown} {error}"
        if bool(self.cert_file) != bool(self.key_file):
            yield f"{where}: cert_file and key_file go together (mutual TLS)"

    @property
    def uses_tls(self) -> bool:
        """TLS was asked for, or is implied by a CA, a client certificate or a server name."""
        return self.tls or bool(self.ca_file or self.cert_file or self.server_name)


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Every setting of the bridge, in groups, validated on creation (README's "Configuration").

    Each component is handed only its group: `Authenticator(settings.auth)`,
    `cors_middleware(settings.cors)`, and so on.
    """

    services: tuple[ServiceConfig, ...] = ()
    http: HTTP = dataclasses.field(default_factory=HTTP)
    limits: Limits = dataclasses.field(default_factory=Limits)
    calls: Calls = dataclasses.field(default_factory=Calls)
    tls: TLS = dataclasses.field(default_factory=TLS)
    auth: Auth = dataclasses.field(default_factory=Auth)
    cors: Cors = dataclasses.field(default_factory=Cors)
    observability: Observability = dataclasses.field(default_factory=Observability)

    def __post_init__(self) -> None:
        problems = [
            f"{field.name}: must be a {field.type} object"
            for field in dataclasses.fields(self)
            if field.name in GROUPS
            and not isinstance(getattr(self, field.name), GROUPS[field.name])
        ]
        if not all(isinstance(service, ServiceConfig) for service in self.services):
            problems.append("services: must be ServiceConfig objects")
        names = [service.name for service in self.services if service.name]
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            problems.append(f"services: duplicate name(s) {', '.join(duplicated)}")
        if problems:
            raise ConfigError(problems)
        if self.http.console and self.auth.disabled and not _is_loopback(self.http.address):
            raise ConfigError(
                f"console (JETBRIDGE_CONSOLE): refused on {self.http.address}, which is not a "
                "loopback address, while authentication is disabled: listen on 127.0.0.1 or "
                "turn authentication on"
            )

    @classmethod
    def from_keys(cls, keys: Mapping[str, Any], services: Sequence[ServiceConfig] = ()) -> Settings:
        """Settings from values named by their TOML keys (README's tables), as a config file
        gives them: `Settings.from_keys({"bearer_auth_key": ["..."], "call_timeout": 5})`."""
        problems = [f"unknown setting {key[:100]!r}" for key in keys if key not in _DECLARED]
        known = {key: value for key, value in keys.items() if key in _DECLARED}
        return _build(known, {key: key for key in keys}, tuple(services), problems)

    def service(self, name: str) -> ServiceConfig:
        """The configured service called `name`."""
        for service in self.services:
            if service.name == name:
                return service
        raise KeyError(name)


GROUPS: dict[str, type[Any]] = {
    field.name: field.default_factory  # type: ignore[misc]
    for field in dataclasses.fields(Settings)
    if field.name != "services"
}


def _is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Declared:
    """Where a setting lives: `Settings.<group>.<field>`, and everything declared about it."""

    group: str
    field: str
    setting: Setting
    default: Any

    @property
    def path(self) -> str:
        """How code names it: `auth.cache_ttl`."""
        return f"{self.group}.{self.field}"


def _declarations() -> dict[str, Declared]:
    found: dict[str, Declared] = {}
    for group, cls in GROUPS.items():
        for field in dataclasses.fields(cls):
            setting: Setting = field.metadata["s"]
            key = setting.key or field.name
            assert key not in found, f"two settings named {key}"
            found[key] = Declared(group, field.name, setting, field.default)
    return found


_DECLARED = _declarations()


def declared() -> dict[str, Declared]:
    """Every declared setting by TOML key, in declaration order."""
    return dict(_DECLARED)


def value_of(settings: Settings, key: str) -> Any:
    """The value of the setting with TOML key `key`."""
    where = _DECLARED[key]
    return getattr(getattr(settings, where.group), where.field)


def flag_of(key: str) -> str:
    """The command-line flag of the setting with TOML key `key`."""
    return _DECLARED[key].setting.flag or "--" + key.replace("_", "-")


# Per-service keys of [[services]] tables and how each is checked: those of the top-level
# settings that are their defaults, and `server_name`, which only a service has.
SERVICE_KEYS: dict[str, Callable[[Any], Any]] = {
    "name": _text,
    "target": _text,
    **{d.setting.service_key: d.setting.parse for d in _DECLARED.values() if d.setting.service_key},
    "server_name": _text,
}


def _problem(name: str, setting: Setting | None, value: Any, error: Exception) -> str:
    shown = "***" if setting is None or setting.secret else repr(value)[:100]
    return f"{name} {shown} {error}"


# --- the command line


def add_flags(parser: argparse.ArgumentParser) -> None:
    """Add `--config`, `--service` and one flag per declared setting to a subcommand."""
    parser.add_argument("--config", help=f"TOML config file (env {CONFIG_ENV})")
    parser.add_argument(
        "--service",
        dest="services",
        action="append",
        metavar="[NAME=]TARGET",
        help=(
            "an action server, repeatable; TARGET is HOST:PORT, several comma-separated, "
            f"dns:///HOST:PORT, or inprocess:MODULE:ATTR (env {SERVICES_ENV})"
        ),
    )
    for key, where in _DECLARED.items():
        setting = where.setting
        help = f"{setting.help} (env {setting.env}; default {_shown_default(where.default)})"
        if isinstance(where.default, bool):
            parser.add_argument(
                flag_of(key),
                dest=key,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=help,
            )
        else:
            parser.add_argument(flag_of(key), dest=key, metavar=setting.metavar, help=help)


def _shown_default(default: Any) -> str:
    if isinstance(default, tuple):
        return ",".join(default) or "none"
    return "none" if default == "" else str(default).lower()


def flags_from(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given on the command line (what `add_flags` added), for `load_settings`."""
    names = {"services", *_DECLARED}
    return {k: v for k, v in vars(args).items() if k in names and v is not None}


# --- loading


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
    `services` entry is a list of `[NAME=]TARGET` strings. Every problem is reported at once,
    each named as the user wrote it.
    """
    environ = os.environ if environ is None else environ
    path = config_file or environ.get(CONFIG_ENV)
    raw: dict[str, Any] = _read_toml(Path(path)) if path else {}
    origin = {key: f"{key} (in {path})" for key in raw}
    for key, where in _DECLARED.items():
        if where.setting.env in environ:
            raw[key], origin[key] = environ[where.setting.env], where.setting.env
    if environ.get(SERVICES_ENV):
        # Entries are separated by spaces or semicolons; commas stay inside one target.
        specs = re.split(r"[;\s]+", environ[SERVICES_ENV])
        raw["services"] = [parse_service_spec(spec) for spec in specs if spec]
        origin["services"] = SERVICES_ENV
    for key, value in (flags or {}).items():
        if value is None:
            continue
        if key == "services":
            raw[key], origin[key] = [parse_service_spec(spec) for spec in value], "--service"
        else:
            raw[key], origin[key] = value, flag_of(key)
    entries = raw.pop("services", ())
    problems = [f"unknown setting {key[:100]!r}" for key in raw if key not in _DECLARED]
    if isinstance(entries, list | tuple) and not entries:
        problems.append(
            "no action servers configured: give --service [NAME=]HOST:PORT, "
            f"{SERVICES_ENV}, or [[services]] in the config file"
        )
    known = {key: value for key, value in raw.items() if key in _DECLARED}
    return _build(known, origin, entries, problems)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except OSError as error:
        raise ConfigError(f"config file {path}: {error.strerror}") from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {path}: invalid TOML: {error}") from error


def _build(
    raw: Mapping[str, Any], origin: Mapping[str, str], entries: Any, problems: list[str]
) -> Settings:
    """Settings from values by TOML key (each named `origin[key]` in problems) and services
    (tables, or ServiceConfig objects); raises with `problems` and every other one at once."""
    values: dict[str, dict[str, Any]] = {group: {} for group in GROUPS}
    for key, value in raw.items():
        where = _DECLARED[key]
        try:
            values[where.group][where.field] = where.setting.parse(value)
        except (TypeError, ValueError) as error:
            problems.append(_problem(origin[key], where.setting, value, error))
    groups: dict[str, Any] = {}
    for group, cls in GROUPS.items():
        try:
            groups[group] = cls(**values[group])
        except ConfigError as error:
            problems += error.problems
    label, _, file = origin.get("services", "services").partition(" ")
    services = _services(entries, groups, label, file)
    if isinstance(services, list):
        problems += services
    if problems:
        raise ConfigError(problems)
    assert isinstance(services, tuple)
    return Settings(services=services, **groups)


def _services(
    entries: Any, groups: Mapping[str, Any], where: str, file: str
) -> tuple[ServiceConfig, ...] | list[str]:
    """The services, or the problems with them (each named `where[i]`, then `file` if any)."""
    file = f" {file}" if file else ""
    if not isinstance(entries, list | tuple):
        return [f"{where}{file}: must be a list of tables with `name` and `target`"]
    # A top-level setting is the default of its per-service key.
    defaults = {
        d.setting.service_key: getattr(groups[d.group], d.field) if d.group in groups else d.default
        for d in _DECLARED.values()
        if d.setting.service_key
    }
    services: list[ServiceConfig] = []
    problems: list[str] = []
    for index, entry in enumerate(entries):
        if isinstance(entry, ServiceConfig):
            services.append(entry)
            continue
        if not isinstance(entry, Mapping):
            problems.append(f"{where}[{index}]{file}: must be a table with `name` and `target`")
            continue
        extra = sorted(str(key)[:100] for key in set(entry) - set(SERVICE_KEYS))
        if extra:
            problems.append(f"{where}[{index}]{file}: unknown key(s) {', '.join(extra)}")
            continue
        try:
            services.append(ServiceConfig(**{**defaults, **entry}))
        except ConfigError as error:
            problems += [f"{where}[{index}]{file}: {problem}" for problem in error.problems]
    names = [service.name for service in services if service.name]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        problems.append(f"services: duplicate name(s) {', '.join(duplicated)}")
    return problems or tuple(services)
