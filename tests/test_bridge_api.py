"""jetbridge's public surface: complete, sorted, documented, and free of gRPC until used."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from typing import Any

import pytest

import jetbridge
from jetbridge import config


def test_public_api_is_complete_sorted_and_documented() -> None:
    exported = jetbridge.__all__
    # Sorted as ruff's RUF022 keeps it: CONSTANT_CASE, then CamelCase, then the rest.
    assert exported == sorted(exported, key=lambda n: (not n.isupper(), not n[0].isupper(), n))
    for name in exported:
        value = getattr(jetbridge, name)
        if name != "__version__":
            assert value.__doc__, f"{name} needs a docstring"
            assert value.__module__.startswith("jetbridge."), name
    with pytest.raises(AttributeError):
        _ = jetbridge.no_such_name


def test_the_package_docstring_builds_what_it_shows() -> None:
    sample = re.search(r"```python\n(.*?)```", jetbridge.__doc__ or "", re.S)
    assert sample is not None
    code, run_line = sample.group(1).rstrip().rsplit("\n", 1)
    assert run_line.startswith("web.run_app(create_app(settings)")
    namespace: dict[str, Any] = {}
    exec(code, namespace)  # everything but serving forever
    app = jetbridge.create_app(namespace["settings"])
    assert {r.canonical for r in app.router.resources()} >= {"/api/messages/", "/readyz"}
    assert namespace["settings"].auth.bearer_keys == ("a-long-random-key",)


def test_settings_groups_are_exported_and_each_is_a_field_of_settings() -> None:
    fields = {f.name: f.type for f in dataclasses.fields(jetbridge.Settings)}
    for group, cls in config.GROUPS.items():
        assert getattr(jetbridge, cls.__name__) is cls
        assert fields[group] == cls.__name__


def test_importing_jetbridge_loads_no_grpc() -> None:
    code = "import sys, jetbridge; print('grpc' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
