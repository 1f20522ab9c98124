"""README's configuration tables are the settings: every row's TOML key, flag and environment
variable reaches its setting, for every subcommand, and every declared setting has a row."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from jetbridge import cli, config
from jetbridge.config import Settings, declared, load_settings

README = Path(__file__).parent.parent / "README.md"
SUBCOMMANDS = ("serve", "check", "actions")


class Row(NamedTuple):
    key: str
    path: str
    flag: str
    env: str
    default: str


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _ticked(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def readme_rows() -> Iterator[Row]:
    """The rows of README's tables that have a TOML key, flag and environment column."""
    header: list[str] = []
    for line in README.read_text().splitlines():
        if not line.startswith("|"):
            header = []
            continue
        cells = _cells(line)
        if not header:
            header = [cell.lower() for cell in cells]
            continue
        columns = {name.split(" ")[0]: i for i, name in enumerate(header)}
        if set(columns) < {"flag", "environment"} or cells[0].startswith("---"):
            continue
        key_column = columns.get("setting", columns.get("toml"))
        if key_column is None:
            continue
        keys = _ticked(cells[key_column])
        paths = _ticked(cells[columns["in"]])
        flags = [f.split(" ")[0] for f in _ticked(cells[columns["flag"]]) if f.startswith("--")]
        flags = [f for f in flags if not f.startswith("--no-")]
        envs = [
            e for e in _ticked(cells[columns["environment"]]) if re.fullmatch(r"[A-Z][A-Z0-9_]+", e)
        ]
        default = cells[columns["default"]]
        assert len(keys) == len(paths) == len(flags) == len(envs), line
        for key, path, flag, env in zip(keys, paths, flags, envs, strict=True):
            yield Row(key, path, flag, env, default)


ROWS = [row for row in readme_rows() if row.key != "services"]


def _pem(tmp_path: Path) -> str:
    path = tmp_path / "jwt.pem"
    if path.exists():
        return str(path)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    path.write_bytes(
        key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return str(path)


def sample(key: str, tmp_path: Path) -> tuple[str, Any]:
    """A valid text value for `key` other than its default, and the value it must become."""
    default = config.value_of(Settings(), key)
    special: dict[str, tuple[str, Any]] = {
        "address": ("127.0.0.2", "127.0.0.2"),
        "log_level": ("debug", "DEBUG"),
        "log_format": ("JSON", "json"),
        "api_base_url": ("https://jet.example/api/", "https://jet.example/api"),
        "allow_origin": (
            "https://a.example,https://b.example",
            ("https://a.example", "https://b.example"),
        ),
        "max_message_bytes": ("33554432", 33554432),
        "ca_file": (__file__, __file__),
        "cert_file": (__file__, __file__),
        "key_file": (__file__, __file__),
    }
    if key in special:
        return special[key]
    if key == "jwt_verify_key":
        path = _pem(tmp_path)
        return path, declared()["jwt_verify_key"].setting.parse(Path(path).read_text())
    if isinstance(default, bool):
        return "true", True
    if isinstance(default, int):
        return "7", 7
    if isinstance(default, float):
        return "7.5", 7.5
    if isinstance(default, tuple):
        return "k1,k2", ("k1", "k2")
    return "some-value", "some-value"


# Settings that only make sense together are given together, in the same spelling.
PARTNER = {"cert_file": "key_file", "key_file": "cert_file"}


def value_of(settings: Settings, key: str) -> Any:
    value = config.value_of(settings, key)
    service_key = declared()[key].setting.service_key
    if service_key:
        # A per-service default must also reach the service.
        assert getattr(settings.services[0], service_key) == value
    return value


def test_readme_lists_every_declared_setting_with_its_flag_and_variable() -> None:
    documented = {row.key: row for row in ROWS}
    assert set(documented) == set(declared()), "README's tables and jetbridge.config disagree"
    for key, where in declared().items():
        row = documented[key]
        assert (row.path, row.flag, row.env) == (where.path, config.flag_of(key), where.setting.env)


@pytest.mark.parametrize("row", ROWS, ids=[row.key for row in ROWS])
def test_readme_default_is_the_real_default(row: Row) -> None:
    default = config.value_of(Settings(), row.key)
    ticked = _ticked(row.default)
    if ticked:
        assert declared()[row.key].setting.parse(ticked[0]) == default
    else:  # "none", "empty", "system CAs", "Jet Admin's key"
        assert not default


@pytest.mark.parametrize("command", SUBCOMMANDS)
@pytest.mark.parametrize("row", ROWS, ids=[row.key for row in ROWS])
def test_each_flag_reaches_its_setting(row: Row, command: str, tmp_path: Path) -> None:
    argv = [command, "--service", "x:1"]
    for key in (row.key, *([PARTNER[row.key]] if row.key in PARTNER else [])):
        text, _ = sample(key, tmp_path)
        flag = config.flag_of(key)
        argv += [flag] if text == "true" else [flag, text]
    args = cli.build_parser().parse_args(argv)
    settings = load_settings(config.flags_from(args), environ={})
    assert value_of(settings, row.key) == sample(row.key, tmp_path)[1]


@pytest.mark.parametrize("row", ROWS, ids=[row.key for row in ROWS])
def test_each_variable_reaches_its_setting(row: Row, tmp_path: Path) -> None:
    environ = {"JETBRIDGE_SERVICES": "x:1"}
    for key in (row.key, *([PARTNER[row.key]] if row.key in PARTNER else [])):
        environ[declared()[key].setting.env] = sample(key, tmp_path)[0]
    settings = load_settings(environ=environ)
    assert value_of(settings, row.key) == sample(row.key, tmp_path)[1]


def _toml(key: str, text: str, default: Any) -> str:
    if isinstance(default, bool):
        return f"{key} = true"
    if isinstance(default, int | float):
        return f"{key} = {text}"
    if isinstance(default, tuple):
        return f"{key} = {text.split(',')!r}".replace("'", '"')
    return f"{key} = {text!r}".replace("'", '"')


@pytest.mark.parametrize("row", ROWS, ids=[row.key for row in ROWS])
def test_each_toml_key_reaches_its_setting(row: Row, tmp_path: Path) -> None:
    lines = []
    for key in (row.key, *([PARTNER[row.key]] if row.key in PARTNER else [])):
        lines.append(_toml(key, sample(key, tmp_path)[0], config.value_of(Settings(), key)))
    path = tmp_path / "bridge.toml"
    path.write_text("\n".join([*lines, "[[services]]", 'target = "x:1"', ""]))
    settings = load_settings(environ={}, config_file=path)
    assert value_of(settings, row.key) == sample(row.key, tmp_path)[1]


def test_boolean_flags_have_a_negative_form() -> None:
    args = cli.build_parser().parse_args(["check", "--service", "x:1", "--no-cors-headers"])
    assert load_settings(config.flags_from(args), environ={}).cors.enabled is False


def test_readme_settings_in_code_sample_runs() -> None:
    text = README.read_text()
    section = text[text.index("In code, settings come in groups") :]
    sample = re.search(r"```python\n(.*?)```", section, re.S)
    assert sample is not None
    namespace: dict[str, Any] = {}
    exec(sample.group(1), namespace)
    assert namespace["settings"].limits.max_body_bytes == 2 * 1024 * 1024


def test_settings_in_code_are_validated_like_loaded_ones() -> None:
    with pytest.raises(config.ConfigError) as raised:
        config.Limits(max_body_bytes=0)
    assert raised.value.problems == ["max_body_bytes 0 must be positive"]
    with pytest.raises(config.ConfigError) as raised:
        Settings.from_keys({"port": "x", "bogus": 1})
    assert raised.value.problems == ["unknown setting 'bogus'", "port 'x' must be a whole number"]
