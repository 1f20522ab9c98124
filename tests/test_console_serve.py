"""The console's setting (flag, environment, TOML) and the files it serves under /console/.

What the page does in a browser is tests/test_console.py's part.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from jetbridge import console
from jetbridge.config import ConfigError, ServiceConfig, load_settings
from tests.support import BridgeFactory, free_port

SERVICE = ["127.0.0.1:50051"]


def test_console_is_off_by_default_and_on_by_flag_environment_or_file(tmp_path: Path) -> None:
    assert not load_settings({"services": SERVICE}, environ={}).http.console
    flag = {"services": SERVICE, "console": True, "address": "127.0.0.1", "disable_auth": True}
    assert load_settings(flag, environ={}).http.console
    assert load_settings({"services": SERVICE}, environ={"JETBRIDGE_CONSOLE": "1"}).http.console
    toml = tmp_path / "bridge.toml"
    toml.write_text('console = true\n[[services]]\nname = "a"\ntarget = "127.0.0.1:1"\n')
    assert load_settings(environ={}, config_file=toml).http.console
    with pytest.raises(ConfigError, match="JETBRIDGE_CONSOLE 'maybe' must be true or false"):
        load_settings({"services": SERVICE}, environ={"JETBRIDGE_CONSOLE": "maybe"})


def test_console_is_refused_on_a_public_address_without_authentication() -> None:
    public = {"services": SERVICE, "console": True, "disable_auth": True}
    with pytest.raises(ConfigError, match=r"refused on 0\.0\.0\.0, which is not a loopback"):
        load_settings(public, environ={})
    with pytest.raises(ConfigError, match="not a loopback"):
        load_settings({**public, "address": "192.168.1.10"}, environ={})
    for loopback in ("127.0.0.1", "127.0.0.2", "::1", "localhost"):
        assert load_settings({**public, "address": loopback}, environ={}).http.console
    # With authentication on, any address will do: the page asks for a credential.
    guarded = {"services": SERVICE, "console": True, "bearer_auth_key": "k" * 32}
    assert load_settings(guarded, environ={}).http.address == "0.0.0.0"


def test_serve_stops_with_a_configuration_error() -> None:
    serve = [sys.executable, "-m", "jetbridge", "serve", "--console", "--disable-auth"]
    done = subprocess.run(
        [*serve, "--port", str(free_port()), "--service", "127.0.0.1:1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "configuration error: console (JETBRIDGE_CONSOLE): refused on 0.0.0.0" in done.stderr


async def test_console_files_are_served_with_a_strict_policy(make_bridge: BridgeFactory) -> None:
    target = ServiceConfig(name="x", target="127.0.0.1:1", timeout=1)
    bridge = await make_bridge(target, console=True, address="127.0.0.1")
    index = await bridge.request("GET", "/console/")
    assert index.status == 200
    assert index.headers["Content-Type"] == "text/html; charset=utf-8"
    csp = index.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self';" in csp
    assert "frame-ancestors 'none'" in csp
    assert index.headers["X-Content-Type-Options"] == "nosniff"
    page = index.body.decode()
    assert '<script type="module" src="console.js">' in page
    assert "http" not in page.replace('href="#', "")  # nothing from elsewhere
    for name, content_type in console.FILES.items():
        reply = await bridge.request("GET", f"/console/{name}")
        assert reply.status == 200
        assert reply.headers["Content-Type"] == f"{content_type}; charset=utf-8"
        assert reply.headers["Content-Security-Policy"] == csp
        assert "://" not in reply.body.decode()  # no URL of anywhere else
    redirect = await bridge.request("GET", "/console", allow_redirects=False)
    assert (redirect.status, redirect.headers["Location"]) == (302, "/console/")
    assert (await bridge.request("GET", "/")).json()["console_url"] == "/console/"
    for missing in ("/console/app.py", "/console/..%2f__init__.py", "/console/static"):
        assert (await bridge.request("GET", missing)).status == 404


async def test_no_console_unless_asked(make_bridge: BridgeFactory) -> None:
    bridge = await make_bridge(ServiceConfig(name="x", target="127.0.0.1:1", timeout=1))
    assert (await bridge.request("GET", "/console/")).status == 404
    assert "console_url" not in (await bridge.request("GET", "/")).json()


def test_every_shipped_file_is_served() -> None:
    shipped = {path.name for path in console.STATIC.iterdir()}
    assert shipped == set(console.FILES)
