"""Settings from flags, environment and TOML, and the messages that refuse bad ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from jetbridge.config import ConfigError, ServiceConfig, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "jetbridge.toml"
    path.write_text(text)
    return path


def test_services_from_flags_with_and_without_names() -> None:
    settings = load_settings(
        {"services": ["127.0.0.1:50051", "billing=billing.internal:50051"]}, environ={}
    )
    assert settings.services == (
        ServiceConfig(name="127.0.0.1_50051", target="127.0.0.1:50051", timeout=10.0),
        ServiceConfig(name="billing", target="billing.internal:50051", timeout=10.0),
    )
    assert (settings.address, settings.port, settings.disable_auth) == ("0.0.0.0", 8888, False)


def test_precedence_is_flags_then_environment_then_file(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        """
port = 7000
call_timeout = 4
log_level = "debug"

[[services]]
name = "shop"
target = "127.0.0.1:50051"

[[services]]
name = "billing"
target = "127.0.0.1:50052"
timeout = 2.5
secret = "s3cret"
""",
    )
    settings = load_settings(
        {"port": 9000}, environ={"PORT": "8000", "JETBRIDGE_CALL_TIMEOUT": "3"}, config_file=config
    )
    assert settings.port == 9000
    assert settings.call_timeout == 3.0
    assert settings.log_level == "DEBUG"
    assert settings.service("shop").timeout == 3.0
    assert settings.service("billing").timeout == 2.5
    assert settings.service("billing").secret == "s3cret"
    assert "s3cret" not in repr(settings)


def test_environment_alone_configures_everything(tmp_path: Path) -> None:
    config = write(tmp_path, 'port = 7001\n[[services]]\ntarget = "127.0.0.1:1"\n')
    settings = load_settings(
        environ={
            "JETBRIDGE_SERVICES": "shop=127.0.0.1:50051; billing=10.0.0.1:1,10.0.0.2:1 127.0.0.1:3",
            "DISABLE_AUTH": "true",
            "ADDRESS": "127.0.0.1",
            "JETBRIDGE_CONFIG": str(config),
        }
    )
    assert [(s.name, s.target) for s in settings.services] == [
        ("shop", "127.0.0.1:50051"),
        ("billing", "10.0.0.1:1,10.0.0.2:1"),
        ("127.0.0.1_3", "127.0.0.1:3"),
    ]
    assert settings.port == 7001
    assert settings.disable_auth is True
    assert settings.address == "127.0.0.1"


@pytest.mark.parametrize(
    ("flags", "environ", "message"),
    [
        ({}, {}, "no action servers configured"),
        ({"services": ["localhost"]}, {}, "is not HOST:PORT"),
        ({"services": ["a=x:1", "a=y:2"]}, {}, "duplicate name(s) a"),
        ({"services": ["bad name=x:1"]}, {}, "may hold only"),
        (
            {"services": ["x:1"], "port": 70000},
            {},
            "port (PORT): 70000 must be between 1 and 65535",
        ),
        (
            {"services": ["x:1"]},
            {"JETBRIDGE_CALL_TIMEOUT": "-1"},
            "call_timeout (JETBRIDGE_CALL_TIMEOUT)",
        ),
        ({"services": ["x:1"]}, {"DISABLE_AUTH": "maybe"}, "must be true or false"),
        ({"services": ["x:1"]}, {"JETBRIDGE_LOG_LEVEL": "loud"}, "must be DEBUG"),
        ({"services": ["x:1"]}, {"JETBRIDGE_MAX_BODY_BYTES": "1.5"}, "must be a whole number"),
    ],
)
def test_invalid_settings_name_the_setting(
    flags: dict[str, object], environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(flags, environ=environ)
    assert message in str(error.value)


def test_config_file_problems_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"jetbridge\.toml: invalid TOML"):
        load_settings(environ={}, config_file=write(tmp_path, "port = = 1"))
    with pytest.raises(ConfigError, match="unknown setting"):
        load_settings(environ={}, config_file=write(tmp_path, "prot = 1"))
    with pytest.raises(ConfigError, match=r"services\[0\]: unknown key\(s\) adress"):
        load_settings(environ={}, config_file=write(tmp_path, '[[services]]\nadress = "x:1"\n'))
    with pytest.raises(ConfigError, match="No such file"):
        load_settings(environ={}, config_file=tmp_path / "missing.toml")


def test_dns_targets_are_left_to_grpc() -> None:
    settings = load_settings({"services": ["shop=dns:///shop.default.svc:50051"]}, environ={})
    assert settings.service("shop").target == "dns:///shop.default.svc:50051"
