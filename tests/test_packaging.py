"""The two distributions' metadata and contents (scripts/smoke-wheels installs and runs them).

Builds a real wheel with the pinned build backend where the question is what a wheel holds.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import jetactions
import jetbridge
import jetconformance
from tests.support import ROOT

PACKAGES = {
    "jetactions": ROOT / "sdk_python",
    "jetbridge": ROOT / "bridge",
    "jetconformance": ROOT / "conformance",
}
MODULES = {"jetactions": jetactions, "jetbridge": jetbridge, "jetconformance": jetconformance}
STDLIB = sys.stdlib_module_names


def project(name: str) -> dict[str, object]:
    with (PACKAGES[name] / "pyproject.toml").open("rb") as file:
        table: dict[str, object] = tomllib.load(file)["project"]
    return table


def imported_modules(package: Path) -> set[str]:
    """Top-level modules that a package's hand-written code imports (generated code too)."""
    names: set[str] = set()
    for source in package.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - STDLIB - {"__future__"}


@pytest.mark.parametrize("name", list(PACKAGES))
def test_every_direct_import_is_a_declared_dependency(name: str) -> None:
    meta = project(name)
    assert isinstance(meta["dependencies"], list)
    extras = meta.get("optional-dependencies", {})
    assert isinstance(extras, dict)
    declared = {canonicalize_name(Requirement(r).name) for r in meta["dependencies"]}
    declared |= {canonicalize_name(Requirement(r).name) for e in extras.values() for r in e}
    distributions = importlib.metadata.packages_distributions()
    first_party = {name: name for name in PACKAGES}
    missing = {}
    for module in imported_modules(PACKAGES[name] / name):
        owners = {
            canonicalize_name(d)
            for d in distributions.get(module, [first_party.get(module, module)])
        }
        if module != name and not owners & declared:
            missing[module] = sorted(owners)
    assert not missing, f"{name} imports these without declaring them: {missing}"


@pytest.mark.parametrize("name", list(PACKAGES))
def test_our_packages_require_each_other_in_the_series_they_are_tested_with(name: str) -> None:
    meta = project(name)
    assert isinstance(meta["dependencies"], list)
    for requirement in (Requirement(r) for r in meta["dependencies"]):
        if requirement.name not in MODULES:
            continue
        version = MODULES[requirement.name].__version__
        assert version in requirement.specifier, (name, str(requirement))
        major, minor, *_ = (int(part) for part in version.split("."))
        assert f"{major}.{minor + 1}.0" not in requirement.specifier  # the next series is untested
        assert f"{major + 1}.0.0" not in requirement.specifier


def test_versions_come_from_one_place() -> None:
    """pyproject.toml writes the version; `__version__` is the installed distribution's."""
    for name, module in MODULES.items():
        meta = project(name)
        assert module.__version__ == meta["version"] == importlib.metadata.version(name)
        source = (PACKAGES[name] / name / "_version.py").read_text()
        assert not re.search(r"[\"']\d+\.\d+", source), f"{name}/_version.py writes a version"


def test_jetbridge_version_names_both_packages() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "jetbridge", "--version"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert (
        result.stdout
        == f"jetbridge {jetbridge.__version__} (jetactions {jetactions.__version__})\n"
    )


def test_each_distribution_ships_the_root_license() -> None:
    license_text = (ROOT / "LICENSE").read_text()
    assert "MIT License" in license_text
    assert "the Jet bridge over gRPC authors" in license_text
    for name, directory in PACKAGES.items():
        assert (directory / "LICENSE").read_text() == license_text, f"{name}'s LICENSE differs"
        assert project(name)["license-files"] == ["LICENSE"]


def test_the_sdk_wheel_carries_the_contract(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path)],
        cwd=PACKAGES["jetactions"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    (wheel,) = tmp_path.glob("jetactions-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = archive.read("jetactions/proto/jetactions/v1/actions.proto")
        names = archive.namelist()
    assert shipped == (ROOT / "proto/jetactions/v1/actions.proto").read_bytes()
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert not any(n.startswith("hatch_build") for n in names)
