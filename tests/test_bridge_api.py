"""jetbridge's public surface: complete, sorted, documented, and free of gRPC until used."""

from __future__ import annotations

import subprocess
import sys

import pytest

import jetbridge


def test_public_api_is_complete_sorted_and_documented() -> None:
    exported = jetbridge.__all__
    assert exported == sorted(exported)
    for name in exported:
        value = getattr(jetbridge, name)
        if name != "__version__":
            assert value.__doc__, f"{name} needs a docstring"
            assert value.__module__.startswith("jetbridge."), name
    with pytest.raises(AttributeError):
        _ = jetbridge.no_such_name


def test_the_readme_of_the_package_serves_what_it_shows() -> None:
    settings = jetbridge.Settings(
        services=(jetbridge.ServiceConfig(name="shop", target="127.0.0.1:50051"),),
        bearer_auth_key=("a-long-random-key",),
    )
    app = jetbridge.create_app(settings)
    assert {r.canonical for r in app.router.resources()} >= {"/api/messages/", "/readyz"}


def test_importing_jetbridge_loads_no_grpc() -> None:
    code = "import sys, jetbridge; print('grpc' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
