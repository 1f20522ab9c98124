"""README's first command: `scripts/demo` installs only what it runs, answers the curl lines.

Runs the real script (its install step is skipped when .venv is already set up, as here) with
tripwires on PATH for every tool of the full bootstrap, then runs the curl lines copied out of
README.md and compares their output with what README says they answer.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import LOGS, ROOT, free_port, wait_until

DEMO = ROOT / "scripts" / "demo"
README = (ROOT / "README.md").read_text(encoding="utf-8")
# Tools the full bootstrap uses and the demo must not: a call to one is recorded and fails.
TRIPWIRES = ("npm", "npx", "node", "go", "buf", "apt-get", "playwright", "chromium")


def readme_curl_lines() -> str:
    """The shell block that README tells users to run against the demo."""
    after = README.split("Then, from another terminal:", 1)[1]
    block = re.search(r"```sh\n(.*?)```", after, re.S)
    assert block is not None
    return block.group(1)


def readme_answers() -> list[str]:
    """The backticked answers of README's "They answer, in order: ..." paragraph."""
    paragraph = README.split("They answer, in order:", 1)[1].split("\n\n", 1)[0]
    return re.findall(r"`([^`]+)`", paragraph)


def test_the_install_step_names_only_the_two_packages() -> None:
    script = DEMO.read_text().replace("\\\n", " ")  # continuation lines joined
    installs = re.findall(r"pip install([^\n]*)", script)
    assert len(installs) == 1
    words = installs[0].split()
    packages = [w for i, w in enumerate(words) if i > 0 and words[i - 1] == "-e"]
    assert packages == ["./sdk_python", "./bridge"]
    assert "-r" not in words  # no requirements file: no development tools
    assert "scripts/bootstrap" not in re.sub(r"#.*", "", script)  # comments may name it
    for tool in TRIPWIRES:
        assert not re.search(rf"^\s*{re.escape(tool)}\s", script, re.M), tool


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[int, Path, subprocess.Popen[bytes]]]:
    """scripts/demo on free ports, answering get_action_list; tripwire calls go to a file."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "tripwire-calls"
    for tool in TRIPWIRES:
        stub = bin_dir / tool
        stub.write_text(f'#!/bin/sh\necho "{tool} $*" >> "{calls}"\nexit 1\n')
        stub.chmod(0o755)
    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "BRIDGE_PORT": str(port),
        "SHOP_PORT": str(free_port()),
    }
    env.pop("BEARER_AUTH_KEY", None)  # README's lines use the demo's default key
    LOGS.mkdir(parents=True, exist_ok=True)
    with (LOGS / f"demo-{port}.log").open("wb") as log:
        process = subprocess.Popen(
            [str(DEMO)], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_for_actions(port, process)
        yield port, calls, process
    finally:
        # The group this fixture created: whatever of it is left, even if the script is gone.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)


def wait_for_actions(port: int, process: subprocess.Popen[bytes]) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/messages/",
        data=b'{"name":"get_action_list"}',
        headers={
            "Authorization": "Bearer demo-key-change-me",
            "Content-Type": "application/json",
        },
    )

    def listed() -> bool:
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                return bool(json.load(response))
        except OSError:
            return False

    wait_until(listed, "actions listed by scripts/demo", 40, process, every=0.1)


@pytest.mark.timeout(120)
def test_the_demo_answers_the_readme_curl_lines(
    demo: tuple[int, Path, subprocess.Popen[bytes]],
) -> None:
    port, calls, _ = demo
    lines = readme_curl_lines().replace("127.0.0.1:8888", f"127.0.0.1:{port}")
    result = subprocess.run(
        ["bash", "-c", lines], capture_output=True, text=True, timeout=60, check=True
    )
    outputs = result.stdout.split("\n")
    answers = readme_answers()
    assert isinstance(json.loads(outputs[0]), list)  # "the action list (a JSON array)"
    mail_2, mail_1, mail_nested, cities, refused, download = answers
    assert outputs[1:5] == [mail_2, mail_1, mail_nested, cities]
    assert refused.endswith(",...}")
    assert outputs[5].startswith(refused.removesuffix(",...}"))
    assert "HTTP/1.1 200" in outputs[6]
    assert f'filename="{download}"' in result.stdout
    assert not calls.exists(), calls.read_text()


def _in_session(session: int) -> list[int]:
    """The processes of a session (the demo script's, which the fixture made), from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        if int(fields[3]) == session:  # field 6 of stat: the session id
            members.append(int(stat.parent.name))
    return members


@pytest.mark.timeout(120)
def test_a_sigterm_to_the_demo_script_alone_stops_the_bridge_and_the_shop(
    demo: tuple[int, Path, subprocess.Popen[bytes]],
) -> None:
    _, _, process = demo
    assert len(_in_session(process.pid)) >= 3  # the script, the shop and the bridge
    process.send_signal(signal.SIGTERM)  # the script only, as a process manager's stop
    assert process.wait(timeout=30) == 143
    wait_until(lambda: not _in_session(process.pid), "the demo's processes gone", 30)
