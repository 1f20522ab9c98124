"""docker/*.Dockerfile, checked without a container engine (none runs on our machines).

The files are parsed and held to what their headers promise: every COPY source exists and is
not ignored, the builder runs CI's own wheel step, the final stage has only the venv (no pip,
no compiler), a numeric non-root user, an entry point that the packages install, and a
HEALTHCHECK whose command is run here against real servers.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support import ROOT, ActionServerProcess, free_port

DOCKER = ROOT / "docker"
IMAGES = {"bridge": "jetbridge", "action-server": "jetactions"}
"""Each Dockerfile and the distribution whose command it runs."""


@dataclass
class Instruction:
    keyword: str
    arguments: str


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def parse(path: Path) -> tuple[str, list[Stage]]:
    """The header comment and the stages of a Dockerfile (continuations joined)."""
    text = path.read_text()
    header = "".join(line for line in text.splitlines(keepends=True) if line.startswith("#"))
    logical = re.sub(
        r"\\\n", " ", "\n".join(ln for ln in text.splitlines() if not ln.startswith("#"))
    )
    stages: list[Stage] = []
    for line in logical.splitlines():
        if not line.strip():
            continue
        keyword, _, arguments = line.strip().partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            words = arguments.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name))
        elif stages:
            stages[-1].instructions.append(Instruction(keyword, arguments.strip()))
    return header.split("\nARG")[0], stages


def exec_form(arguments: str) -> list[str]:
    """The JSON array of CMD/ENTRYPOINT/HEALTHCHECK CMD."""
    words = json.loads(arguments)
    assert isinstance(words, list)
    return [str(w) for w in words]


def dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]


def ignored(relative: str) -> bool:
    parts = Path(relative).parts
    for pattern in dockerignore():
        bare = pattern.removeprefix("**/")
        if fnmatch.fnmatch(relative, pattern) or any(fnmatch.fnmatch(p, bare) for p in parts):
            return True
    return False


def console_scripts() -> set[str]:
    names: set[str] = set()
    for directory in ("sdk_python", "bridge"):
        with (ROOT / directory / "pyproject.toml").open("rb") as file:
            names |= set(tomllib.load(file)["project"].get("scripts", {}))
    return names


@pytest.fixture(params=list(IMAGES))
def dockerfile(request: pytest.FixtureRequest) -> tuple[str, str, list[Stage]]:
    image = str(request.param)
    header, stages = parse(DOCKER / f"{image}.Dockerfile")
    return image, header, stages


def test_the_header_says_why_ci_never_builds_it(dockerfile: tuple[str, str, list[Stage]]) -> None:
    _, header, _ = dockerfile
    assert "No container engine runs on this project's machines" in header
    assert "base images cannot be fetched" in header
    assert "scripts/smoke-wheels" in header


def test_every_copy_source_exists_and_is_in_the_context(
    dockerfile: tuple[str, str, list[Stage]],
) -> None:
    _, _, stages = dockerfile
    defaults = {"APP_DIR": "examples/python"}
    for stage in stages:
        for copy in stage.all("COPY"):
            words = shlex.split(copy.arguments)
            if any(w.startswith("--from=") for w in words):
                continue
            for source in words[:-1]:
                source = re.sub(r"\$\{(\w+)\}", lambda m: defaults[m.group(1)], source)
                assert (ROOT / source).exists(), source
                assert not ignored(source.rstrip("/")), f"{source} is in .dockerignore"


def test_local_environments_stay_out_of_the_context() -> None:
    for local in (".git", ".venv", ".tools", "node_modules", "examples/node/node_modules"):
        assert ignored(local), local
    assert ignored("bridge/jetbridge/__pycache__/app.cpython-311.pyc")


def test_the_builder_runs_ci_s_wheel_step_and_installs_its_wheels(
    dockerfile: tuple[str, str, list[Stage]],
) -> None:
    image, _, stages = dockerfile
    builder, final = stages
    assert builder.name == "builder"
    assert builder.base == final.base == "${PYTHON_IMAGE}"  # the venv's python is the same
    runs = [r.arguments for r in builder.all("RUN")]
    assert "DIST=/dist scripts/smoke-wheels" in runs
    # What scripts/smoke-wheels reads: the pins, the scripts, the contract, every distribution.
    copied = {shlex.split(c.arguments)[0] for c in builder.all("COPY")}
    distributions = {f"{p.parent.name}/" for p in ROOT.glob("*/pyproject.toml")}
    assert copied >= {"requirements-dev.txt", "scripts/", "proto/", *distributions}
    (install,) = [shlex.split(r) for r in runs if r.startswith("scripts/install-wheels")]
    assert install[1] == "/dist"
    assert install[-1].startswith(IMAGES[image])  # the image's own package, last
    for run in runs:
        for script in re.findall(r"scripts/[\w-]+", run):
            assert os.access(ROOT / script, os.X_OK), script
    (copy,) = [c for c in final.all("COPY") if "--from=builder" in c.arguments]
    assert shlex.split(copy.arguments)[1:] == [install[2], install[2]]  # the venv, same path


def test_the_final_stage_runs_nothing_and_is_not_root(
    dockerfile: tuple[str, str, list[Stage]],
) -> None:
    _, _, stages = dockerfile
    final = stages[-1]
    assert not final.all("RUN"), "the final stage must not install or compile anything"
    (user,) = final.all("USER")
    uid, _, gid = user.arguments.partition(":")
    assert uid.isdigit()
    assert int(uid) > 0
    assert gid.isdigit()
    assert int(gid) > 0
    keywords = [i.keyword for i in final.instructions]
    assert keywords.index("USER") < keywords.index("ENTRYPOINT")


def test_the_entry_point_is_a_command_the_packages_install(
    dockerfile: tuple[str, str, list[Stage]],
) -> None:
    image, _, stages = dockerfile
    (entrypoint,) = stages[-1].all("ENTRYPOINT")
    command = exec_form(entrypoint.arguments)[0]
    assert command == IMAGES[image]
    assert command in console_scripts()


def healthcheck(image: str) -> list[str]:
    _, stages = parse(DOCKER / f"{image}.Dockerfile")
    (check,) = stages[-1].all("HEALTHCHECK")
    return exec_form(check.arguments.split(" CMD ", 1)[1])


def env_defaults(image: str) -> dict[str, str]:
    _, stages = parse(DOCKER / f"{image}.Dockerfile")
    (env,) = stages[-1].all("ENV")
    pairs = dict(word.split("=", 1) for word in shlex.split(env.arguments))
    pairs.pop("PATH")
    return pairs


def run_healthcheck(image: str, env: dict[str, str]) -> int:
    command = healthcheck(image)
    assert command[0] == "python"
    result = subprocess.run(
        [sys.executable, *command[1:]],
        env={**os.environ, **env},
        capture_output=True,
        timeout=30,
        check=False,
    )
    return result.returncode


def test_the_action_server_healthcheck_asks_grpc_health(shop: ActionServerProcess) -> None:
    assert env_defaults("action-server")["JETACTIONS_ADDRESS"] == "0.0.0.0:50051"
    assert run_healthcheck("action-server", {"JETACTIONS_ADDRESS": f"0.0.0.0:{shop.port}"}) == 0
    down = {"JETACTIONS_ADDRESS": f"0.0.0.0:{free_port()}"}
    assert run_healthcheck("action-server", down) != 0


def test_the_bridge_healthcheck_asks_healthz(shop: ActionServerProcess) -> None:
    assert env_defaults("bridge")["PORT"] == "8888"
    port = free_port()
    bridge = subprocess.Popen(
        [sys.executable, "-m", "jetbridge", "serve", "--address", "127.0.0.1", "--disable-auth"],
        env={**os.environ, "PORT": str(port), "JETBRIDGE_SERVICES": f"shop={shop.address}"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert bridge.stdout is not None
        for line in bridge.stdout:  # the bridge's "serving" line: it listens
            if "serving Jet Admin messages" in line:
                break
        assert run_healthcheck("bridge", {"PORT": str(port)}) == 0
    finally:
        bridge.kill()
        bridge.wait()
        if bridge.stdout is not None:
            bridge.stdout.close()
    assert run_healthcheck("bridge", {"PORT": str(port)}) != 0
