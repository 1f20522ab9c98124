"""docs/go.md, checked: its Go files are the real ones, and its commands work from scratch.

The "write your first action" commands run as a new user would run them: in an empty directory
next to the clone (a symlink here), with the Go toolchain, then the bridge and curl against the
server they start. The documented ports are swapped for free ones.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import orjson
import pytest

from tests.support import ROOT, free_port, wait_until

DOC = ROOT / "docs" / "go.md"
BLOCK = re.compile(r"(?:<!-- (?P<marker>[^>]*) -->\n)?```(?P<lang>\w*)\n(?P<body>.*?)```", re.S)

pytestmark = pytest.mark.skipif(shutil.which("go") is None, reason="needs the Go toolchain")


def blocks(lang: str) -> list[tuple[str, str]]:
    """(marker, body) of every fenced block of `lang` in the doc, in order."""
    text = DOC.read_text()
    return [(m["marker"] or "", m["body"]) for m in BLOCK.finditer(text) if m["lang"] == lang]


def test_every_go_block_is_a_real_file() -> None:
    found = blocks("go")
    assert found, "docs/go.md has no Go code"
    for marker, body in found:
        assert marker.startswith("file: "), f"a Go block without a `file:` marker: {body[:60]!r}"
        path = ROOT / marker.removeprefix("file: ").strip()
        assert body == path.read_text(), f"docs/go.md's copy of {path.relative_to(ROOT)} differs"


def test_every_shell_block_is_run_here() -> None:
    markers = [marker for marker, _ in blocks("sh")]
    assert all(m.startswith("test: tests/test_go_docs.py") for m in markers), markers
    assert len(markers) == 4  # the three of the first action, and the SDK's own tests


def test_the_sdks_test_command() -> None:
    first_line = blocks("sh")[3][1].splitlines()[0]
    assert first_line == "cd sdk_go && go vet ./... && go test ./..."
    assert "scripts/build-examples" in blocks("sh")[3][1]
    subprocess.run(["nice", "bash", "-c", first_line], cwd=ROOT, check=True, capture_output=True)


class Started:
    """A documented command started in a process group of its own, output in a file."""

    def __init__(self, script: str, cwd: Path, log: Path) -> None:
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                ["bash", "-euc", script],
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # so that SIGTERM reaches `go run`'s child too
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float = 120.0) -> re.Match[str]:
        # No process check: the line awaited may come as the command exits.
        what = f"line matching {pattern!r}"
        return wait_until(
            lambda: re.search(pattern, self.output()), what, timeout, None, self.output
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # the group this test created
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=20)


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """An empty directory next to a `jetbridge-grpc` clone (this checkout)."""
    (tmp_path / "jetbridge-grpc").symlink_to(ROOT)
    return tmp_path


def test_first_action_from_scratch(scratch: Path) -> None:
    setup, serve, call, _ = (body for _, body in blocks("sh"))
    server_port, bridge_port = str(free_port()), str(free_port())
    # The user saves the two files shown in the doc (the first test checks they are these).
    files = ROOT / "sdk_go" / "examples" / "hello"
    setup = re.sub(r"^# save .*$", f"cp {files}/main.go {files}/main_test.go .", setup, flags=re.M)
    server = Started(setup.replace("50051", server_port), scratch, scratch / "server.log")
    bridge: Started | None = None
    try:
        server.wait_for(rf"serving on 127\.0\.0\.1:{server_port} \(1 action\)")
        assert "ok  \texample.com/hello" in server.output()  # `go test ./...` passed
        serve = serve.replace("50051", server_port).replace("8888", bridge_port)
        bridge = Started(serve, scratch, scratch / "bridge.log")
        wait_bridge(f"http://127.0.0.1:{bridge_port}/", bridge)
        call = call.replace("8888", bridge_port)
        answer = subprocess.run(["bash", "-euc", call], capture_output=True, check=True, timeout=30)
        assert orjson.loads(answer.stdout) == {"result": True, "message": "Hello, Ada!"}
    finally:
        if bridge is not None:
            bridge.stop()
        server.stop()
    # `go run` itself dies of the signal; the server it started drains, then says so.
    server.wait_for(r"msg=\"?draining[^\n]*\n[^\n]*msg=stopped", timeout=20)


def wait_bridge(url: str, bridge: Started) -> None:
    """Until the bridge answers its health endpoint."""

    def answers() -> bool:
        return subprocess.run(["curl", "-sf", url], capture_output=True).returncode == 0

    wait_until(answers, f"answer of the bridge at {url}", 30, bridge.process, bridge.output, 0.1)
