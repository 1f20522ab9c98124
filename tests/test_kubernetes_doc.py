"""docs/kubernetes.md against the real commands and settings, so the manifests cannot drift.

The YAML blocks are parsed; the bridge container's arguments go through `jetbridge`'s own
parser and, with the container's environment, through `load_settings`; every environment
variable in the document must be one the bridge or the SDK reads; the probes must answer on a
real bridge and name the SDK's health service.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from jetactions._settings import SETTINGS as SDK_SETTINGS
from jetactions.cli import parser as sdk_parser
from jetactions.contract import SERVICE_NAME
from jetbridge.cli import build_parser
from jetbridge.config import CONFIG_ENV, SERVICES_ENV, declared, flags_from, load_settings
from tests.support import ROOT, ActionServerProcess, BridgeFactory, service

DOC = (ROOT / "docs" / "kubernetes.md").read_text(encoding="utf-8")


# Names the document uses that other branches of issue 10/13 add. Each must still be unknown
# here: once its branch is merged the test says so, and the entry must be removed (then the
# name is checked like every other).
def manifests() -> list[dict[str, Any]]:
    documents: list[dict[str, Any]] = []
    for block in re.findall(r"```yaml\n(.*?)```", DOC, re.S):
        documents += [d for d in yaml.safe_load_all(block) if d]
    return documents


def containers(image: str) -> list[dict[str, Any]]:
    found = []
    for manifest in manifests():
        if manifest["kind"] == "Deployment":
            for container in manifest["spec"]["template"]["spec"]["containers"]:
                if image in container["image"]:
                    found.append(container)
    assert found, f"no {image} container in docs/kubernetes.md"
    return found


def environment(container: dict[str, Any]) -> dict[str, str]:
    """The container's env; values from secrets become a placeholder."""
    return {e["name"]: str(e.get("value", "from-a-secret")) for e in container.get("env", [])}


def sdk_environment() -> set[str]:
    """Every environment variable the Python SDK reads."""
    return {s.env for s in SDK_SETTINGS}


def bridge_environment() -> set[str]:
    """Every environment variable the bridge reads."""
    return {d.setting.env for d in declared().values()} | {CONFIG_ENV, SERVICES_ENV}


def serve_flags() -> set[str]:
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {flag for action in commands.choices["serve"]._actions for flag in action.option_strings}


def test_the_bridge_container_runs_a_real_command_with_valid_settings() -> None:
    (bridge,) = containers("jetbridge")
    args = [str(a) for a in bridge["args"]]
    for flag in (a for a in args if a.startswith("-")):
        assert flag in serve_flags(), f"jetbridge serve has no {flag}"
    parsed = build_parser().parse_args(args)
    assert parsed.command == "serve"
    flags = flags_from(parsed)
    env = environment(bridge)
    settings = load_settings(flags, environ=env)
    assert [s.name for s in settings.services] == ["shop", "billing"]
    assert settings.http.port == bridge["ports"][0]["containerPort"]


def test_every_environment_variable_is_one_that_is_read() -> None:
    bridge_env = bridge_environment()
    sdk_env = sdk_environment()
    (bridge,) = containers("jetbridge")
    assert set(environment(bridge)) <= bridge_env
    (shop,) = containers("shop")
    assert set(environment(shop)) <= sdk_env
    mentioned = set(re.findall(r"\b(?:JETBRIDGE|JETACTIONS)_[A-Z0-9_]+\b", DOC))
    unknown = mentioned - bridge_env - sdk_env
    assert not unknown, f"docs/kubernetes.md names settings nothing reads: {sorted(unknown)}"


def test_the_action_server_runs_the_sdk_command() -> None:
    (shop,) = containers("shop")
    command = [str(c) for c in shop["command"]]
    assert command == ["jetactions", "serve", "shop:app", "--address", "0.0.0.0:50051"]
    args = sdk_parser().parse_args(command[1:])
    assert args.command == "serve"


def test_the_grpc_probe_names_the_sdk_health_service() -> None:
    (shop,) = containers("shop")
    assert shop["readinessProbe"]["grpc"]["service"] == SERVICE_NAME
    grpc_port = next(p["containerPort"] for p in shop["ports"] if p["name"] == "grpc")
    assert shop["readinessProbe"]["grpc"]["port"] == grpc_port
    assert command_port(shop["command"]) == grpc_port


def command_port(command: list[str]) -> int:
    return int(command[command.index("--address") + 1].rpartition(":")[2])


def test_every_deployment_has_a_disruption_budget() -> None:
    documents = manifests()
    budgets = {
        d["metadata"]["name"]: d["spec"]["selector"]["matchLabels"]
        for d in documents
        if d["kind"] == "PodDisruptionBudget"
    }
    for deployment in (d for d in documents if d["kind"] == "Deployment"):
        name = deployment["metadata"]["name"]
        assert budgets.get(name) == deployment["spec"]["selector"]["matchLabels"], name


async def test_the_bridge_probes_answer(
    make_bridge: BridgeFactory, shop: ActionServerProcess
) -> None:
    (container,) = containers("jetbridge")
    bridge = await make_bridge(service("shop", shop))
    for probe in ("readinessProbe", "livenessProbe"):
        path = container[probe]["httpGet"]["path"]
        reply = await bridge.request("GET", path)
        assert reply.status == 200, (path, reply.body)


def test_the_sizing_quotes_bench_results() -> None:
    results = (ROOT / "bench" / "RESULTS.md").read_text(encoding="utf-8")
    for quoted in ("bridge 156", "bridge-1svc 45", "shop 142", "70.4 MiB", "124,324", "0.89×"):
        assert quoted in results, quoted
    for figure in ("156 µs", "45 µs", "142 µs", "70.4 MiB", "124,324", "0.89×"):
        assert figure in DOC, figure


def test_the_images_named_exist() -> None:
    for dockerfile in re.findall(r"\(\.\./(docker/[\w.-]+)\)", DOC):
        assert Path(ROOT / dockerfile).is_file(), dockerfile
