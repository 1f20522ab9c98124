"""Settings from flags, environment and TOML, and the messages that refuse bad ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from jetbridge.config import (
    HTTP,
    ConfigError,
    Cors,
    Observability,
    ServiceConfig,
    Settings,
    load_settings,
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "jetbridge.toml"
    path.write_text(text)
    return path


def test_services_from_flags_with_and_without_names() -> None:
    settings = load_settings(
        {"services": ["127.0.0.1:50051", "billing=billing.internal:50051"]}, environ={}
    )
    assert settings.services == (
        ServiceConfig(name="", target="127.0.0.1:50051", timeout=10.0),
        ServiceConfig(name="billing", target="billing.internal:50051", timeout=10.0),
    )
    assert (settings.http.address, settings.http.port, settings.auth.disabled) == (
        "0.0.0.0",
        8888,
        False,
    )


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
    assert settings.http.port == 9000
    assert settings.calls.timeout == 3.0
    assert settings.observability.log_level == "DEBUG"
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
        ("", "127.0.0.1:3"),
    ]
    assert settings.http.port == 7001
    assert settings.auth.disabled is True
    assert settings.http.address == "127.0.0.1"


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
            "--port 70000 must be between 0 (any free port) and 65535",
        ),
        (
            {"services": ["x:1"]},
            {"JETBRIDGE_CALL_TIMEOUT": "-1"},
            "JETBRIDGE_CALL_TIMEOUT '-1' must be a positive number",
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
    with pytest.raises(ConfigError, match="unknown setting 'prot'"):
        load_settings(environ={}, config_file=write(tmp_path, "prot = 1"))
    unknown_key = r"services\[0\] \(in .*jetbridge\.toml\): unknown key\(s\) adress"
    with pytest.raises(ConfigError, match=unknown_key):
        load_settings(environ={}, config_file=write(tmp_path, '[[services]]\nadress = "x:1"\n'))
    with pytest.raises(ConfigError, match="No such file"):
        load_settings(environ={}, config_file=tmp_path / "missing.toml")


def test_dns_targets_are_left_to_grpc() -> None:
    settings = load_settings({"services": ["shop=dns:///shop.default.svc:50051"]}, environ={})
    assert settings.service("shop").target == "dns:///shop.default.svc:50051"


def test_every_problem_is_reported_at_once_under_the_name_the_user_wrote(tmp_path: Path) -> None:
    config = write(tmp_path, 'port = "x"\n[[services]]\ntarget = "localhost"\n')
    with pytest.raises(ConfigError) as error:
        load_settings(
            {"call_timeout": "-2"},
            environ={"JETBRIDGE_WORKERS": "0", "JETBRIDGE_SECRET": 7},  # type: ignore[dict-item]
            config_file=config,
        )
    problems = error.value.problems
    assert any(p.startswith("port (in ") and "'x' must be a whole number" in p for p in problems)
    assert "--call-timeout '-2' must be a positive number of seconds" in problems
    assert "JETBRIDGE_WORKERS '0' must be positive" in problems
    assert "JETBRIDGE_SECRET *** must be a string" in problems
    assert any("services[0]" in p and "'localhost' is not HOST:PORT" in p for p in problems)
    assert len(problems) == 5


def test_settings_built_in_code_are_validated_like_loaded_ones() -> None:
    with pytest.raises(ConfigError) as error:
        Settings.from_keys(
            {"port": 70000, "allow_origin": ("ftp://x",)}, (ServiceConfig(target="x:1"),)
        )
    assert len(error.value.problems) == 2
    with pytest.raises(ConfigError, match="is not HOST:PORT"):
        ServiceConfig(target="nowhere")
    with pytest.raises(ConfigError, match="cert_file and key_file go together"):
        ServiceConfig(target="x:1", cert_file=__file__)
    # Values are normalised the same way too.
    settings = Settings(
        observability=Observability(log_level="debug"),
        cors=Cors(allow_origin=("https://a.example/",)),
    )
    assert (settings.observability.log_level, settings.cors.allow_origin) == (
        "DEBUG",
        ("https://a.example",),
    )


def test_inprocess_targets_are_checked_for_shape_only() -> None:
    # The module is imported when the app starts, not when settings are read.
    settings = load_settings({"services": ["x=inprocess:no_such_module:app"]}, environ={})
    assert settings.service("x").target == "inprocess:no_such_module:app"
    with pytest.raises(ConfigError, match="inprocess:MODULE:ATTR"):
        load_settings({"services": ["inprocess:nothing"]}, environ={})


def test_port_0_takes_any_free_port_but_not_with_several_workers() -> None:
    assert Settings(http=HTTP(port=0)).http.port == 0
    with pytest.raises(ConfigError) as refused:
        load_settings({"port": "0", "workers": "2", "services": ["x:1"]}, environ={})
    assert refused.value.problems == [
        "port 0 (any free port) cannot be shared by several workers: give a port"
    ]
