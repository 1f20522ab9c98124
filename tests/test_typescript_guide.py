"""docs/typescript.md: its code is the code the tests run, and its first action works from scratch.

The guide marks its blocks with HTML comments: `<!-- file PATH = REPO_FILE -->` (the block is the
user's PATH and equals REPO_FILE, which the SDK's own tests run), `<!-- excerpt REPO_FILE -->` (the
block appears verbatim in REPO_FILE), `<!-- run -->` (shell commands), `<!-- serve -->` (the
command that serves) and `<!-- bridge -->` (the bridge command). The from-scratch test follows the
guide as a new user would: a fresh folder outside the repository, the SDK installed from its
`npm pack` tarball, the files written as the guide shows them, its commands run as they are.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import grpc
import orjson
import pytest

from jetactions.v1 import actions_pb2, actions_pb2_grpc
from tests.otlp import otlp_receiver
from tests.support import ROOT, bridge_process, until_ready, wait_until

GUIDE = ROOT / "docs" / "typescript.md"
BLOCK = re.compile(r"<!-- (?P<marker>[^>]*?) -->\n```(?P<lang>\w*)\n(?P<body>.*?)```", re.S)


@dataclass(frozen=True)
class Block:
    marker: str
    body: str


def blocks() -> list[Block]:
    """The guide's marked code blocks, in order."""
    return [Block(m["marker"], m["body"]) for m in BLOCK.finditer(GUIDE.read_text())]


def test_every_code_block_of_the_guide_is_marked() -> None:
    fenced = GUIDE.read_text().count("\n```") // 2
    assert len(blocks()) == fenced, "a code block without a marker comment escapes the checks"


def test_the_guide_shows_the_files_the_tests_run() -> None:
    checked = 0
    for block in blocks():
        kind, _, rest = block.marker.partition(" ")
        if kind == "file" and " = " in rest:
            repo_file = ROOT / rest.split(" = ")[1]
            assert block.body == repo_file.read_text(), f"{repo_file} and the guide differ"
            checked += 1
        elif kind == "excerpt":
            assert block.body in (ROOT / rest).read_text(), f"the guide's excerpt is not in {rest}"
            checked += 1
    assert checked >= 5


def _require_node() -> None:
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if not (ROOT / "sdk_node" / "node_modules").is_dir():
        missing.append("sdk_node/node_modules (scripts/bootstrap)")
    if missing:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"missing: {', '.join(missing)}")
        pytest.skip(f"missing: {', '.join(missing)}")


@dataclass
class Followed:
    """Where the guide's commands left the user, and its serve and bridge commands."""

    folder: Path
    serve: list[str]
    bridge: list[str]


def follow_guide(tmp_path: Path, env: dict[str, str]) -> Followed:
    """Runs the guide's commands and writes its files, in order, from `tmp_path`."""
    cwd = tmp_path
    serve: list[str] = []
    bridge: list[str] = []
    for block in blocks():
        kind, _, rest = block.marker.partition(" ")
        if kind == "run":
            # One shell per block; the directory it ends in is where the next one starts.
            ended = tmp_path / "ended-in"
            script = f'set -euo pipefail\n{block.body}\npwd >"{ended}"\n'
            result = subprocess.run(
                ["bash", "-c", script],
                cwd=cwd,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert result.returncode == 0, f"{block.body}\n{result.stdout}\n{result.stderr}"
            cwd = Path(ended.read_text().strip())
        elif kind == "file":
            path = cwd / rest.split(" = ")[0]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(block.body)
        elif kind == "serve":
            serve = shlex.split(block.body)
        elif kind == "bridge":
            bridge = shlex.split(block.body)
    return Followed(cwd, serve, bridge)


async def ask_bridge(url: str) -> None:
    """The bridge in front of the greeter lists and runs `greet`."""
    await until_ready(url)
    greet = {"name": "execute_action", "params": {"name": "greet", "params": {"name": "Ada"}}}
    async with aiohttp.ClientSession() as session:
        listing = {"name": "get_action_list"}
        async with session.post(f"{url}/api/messages/", json=listing) as reply:
            assert [a["name"] for a in await reply.json()] == ["greet"]
        async with session.post(f"{url}/api/messages/", json=greet) as reply:
            assert await reply.json() == {"result": True, "message": "Hello, Ada!"}


def test_first_action_from_scratch(tmp_path: Path) -> None:
    _require_node()
    env = {
        **os.environ,
        "JETBRIDGE": str(ROOT),
        # The package caches are warm; no audit or funding requests.
        "npm_config_prefer_offline": "true",
        "npm_config_audit": "false",
        "npm_config_fund": "false",
        "npm_config_update_notifier": "false",
    }
    followed = follow_guide(tmp_path, env)
    installed = followed.folder / "node_modules" / "jetactions"
    assert (installed / "dist" / "index.d.ts").is_file()
    assert not installed.is_symlink()  # from the tarball, not a link into the repository

    log = tmp_path / "greeter.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            followed.serve,
            cwd=followed.folder,
            env={**env, "JETACTIONS_ADDRESS": "127.0.0.1:0"},
            stdout=out,
            stderr=out,
        )
    try:
        found = wait_until(
            lambda: re.search(r"serving on (\S+)", log.read_text()),
            "serving line",
            30,
            process,
            log.read_text,
        )
        assert followed.bridge[:2] == ["jetbridge", "serve"]
        # On any free port, with authentication off (as the guide's bridge has it, or not).
        args = [
            f"greeter={found.group(1)}" if arg.startswith("greeter=") else arg
            for arg in followed.bridge[2:]
            if arg != "--disable-auth"
        ]
        with bridge_process("--disable-auth", *args, name="typescript-guide-bridge") as bridge:
            asyncio.run(ask_bridge(bridge.url))
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
        assert "stopped" in log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    # The guide's OpenTelemetry install: the packaged SDK finds the peers in the greeter's folder.
    asyncio.run(traced_greeter(followed, env))


async def traced_greeter(followed: Followed, env: dict[str, str]) -> None:
    """Serves the greeter with OTEL_EXPORTER_OTLP_ENDPOINT; one call's span reaches a receiver."""
    trace_id, parent = "5bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    async with otlp_receiver() as (receiver, _port):
        process = await asyncio.create_subprocess_exec(
            *followed.serve,
            cwd=followed.folder,
            env={
                **env,
                "JETACTIONS_ADDRESS": "127.0.0.1:0",
                "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
                "OTEL_EXPORTER_OTLP_INSECURE": "true",
            },
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            assert process.stderr is not None
            async with asyncio.timeout(30):
                while not (found := re.search(r"serving on (\S+)", line := await _line(process))):
                    assert line, "the greeter exited"
            async with grpc.aio.insecure_channel(found.group(1)) as channel:
                stub = actions_pb2_grpc.ActionServiceStub(channel)
                metadata = (("traceparent", f"00-{trace_id}-{parent}-01"),)
                await stub.ListActions(actions_pb2.ListActionsRequest(), metadata=metadata)
            process.send_signal(signal.SIGTERM)  # the last spans are exported on the way out
            await receiver.wait_until(lambda: bool(receiver.received), "the greeter's span")
        finally:
            if process.returncode is None:
                process.kill()
            await process.wait()
    (span,) = receiver.received
    assert span.service == "greeter"
    assert span.span.name == "jetactions.v1.ActionService/ListActions"
    assert (span.span.trace_id.hex(), span.span.parent_span_id.hex()) == (trace_id, parent)


async def _line(process: asyncio.subprocess.Process) -> str:
    assert process.stderr is not None
    return (await process.stderr.readline()).decode()


def test_the_guides_opentelemetry_versions_are_the_sdks() -> None:
    """The install command pins what sdk_node is built and tested with (its devDependencies)."""
    (install,) = [b.body for b in blocks() if b.body.startswith("npm install @opentelemetry/")]
    pinned = dict(arg.rsplit("@", 1) for arg in install.split()[2:])
    package = orjson.loads((ROOT / "sdk_node" / "package.json").read_bytes())
    dev = package["devDependencies"]
    assert pinned == {name: dev[name] for name in package["peerDependencies"]}
    assert install.split()[2:] == re.findall(
        r"@opentelemetry/[\w-]+@[\d.]+", (ROOT / "sdk_node" / "src" / "tracing.ts").read_text()
    )
