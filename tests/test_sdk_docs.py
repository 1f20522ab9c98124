"""The SDK's documented Python samples run as written (README.md and sdk_python/README.md)."""

from __future__ import annotations

import asyncio
import inspect
import re
import signal
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

from jetactions import ActionServer, File, Option
from jetactions.testing import ActionTester

ROOT = Path(__file__).resolve().parents[1]


def python_blocks(path: Path, after: str = "") -> list[str]:
    """The ```python blocks of a Markdown file, from the heading `after` to the next `## `."""
    text = path.read_text()
    if after:
        text = text[text.index(after) :]
        following = text.find("\n## ", len(after))
        text = text if following < 0 else text[:following]
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def run_sample(code: str, name: str, namespace: dict[str, Any] | None = None) -> dict[str, Any]:
    """Runs a sample as a module (not as __main__, so it does not start serving)."""
    module = types.ModuleType(name)
    module.__dict__.update(namespace or {})
    sys.modules[name] = module  # dataclasses and typing look modules up while they run
    try:
        exec(compile(code, f"<{name}>", "exec"), module.__dict__)
    finally:
        del sys.modules[name]
    return module.__dict__


async def test_readme_python_sample_runs() -> None:
    (sample,) = python_blocks(ROOT / "README.md", "## Writing an action server (Python)")
    app = run_sample(sample, "readme_sample")["app"]
    assert isinstance(app, ActionServer)
    tester = ActionTester(app)
    assert [d.name for d in await tester.list_actions()] == [
        "mail_users",
        "adjust_wallet",
        "export_users",
        "refresh_stats",
    ]
    mail: dict[str, Any] = {"model": "users", "inputs": {"subject": "Hi"}}
    assert (await tester.execute("mail_users", ids=[1, 2], **mail)).message == "Mailed 2 users"
    # The example README used to get wrong: "every user except 1" is 2 users, not 1.
    inverse = await tester.execute("mail_users", ids=[1], inverse_ids=True, **mail)
    assert inverse.message == "Mailed 2 users"
    refused = await tester.execute("adjust_wallet", ids=[1], inputs={"amount": "0"})
    assert refused.errors == {"amount": ["must be positive"]}
    export = await tester.execute("export_users", model="users")
    assert export.file == File("users.csv", b"id,name\n1,Ada\n", "text/csv")
    assert (await tester.execute("refresh_stats")).value is True
    assert await tester.field_options("orders", "city", {"country": "italy"}) == [
        Option("rome", "Rome", color="red")
    ]


async def test_sdk_readme_samples_run() -> None:
    first, *tests = python_blocks(ROOT / "sdk_python" / "README.md")
    namespace = run_sample(first, "sdk_readme_sample")
    tester = ActionTester(namespace["app"])
    inverse = await tester.execute(
        "mail_users", model="users", ids=[5], inverse_ids=True, inputs={"subject": "Hi"}
    )
    assert inverse.message == "Mailed 4 users"
    assert tests, "the Testing section has samples"
    ran = []
    for index, code in enumerate(tests):
        found = run_sample(code, f"sdk_readme_test_{index}", {"app": namespace["app"]})
        for name, function in found.items():
            if not name.startswith("test_") or not callable(function):
                continue
            if inspect.iscoroutinefunction(function):
                await function()
            else:
                # SyncActionTester runs its own loop: not from inside this test's loop.
                await asyncio.to_thread(function)
            ran.append(name)
    assert ran == ["test_mail_users", "test_mail_users_without_async", "test_raw_listing"]


def test_readme_serve_command_serves_the_sample(tmp_path: Path) -> None:
    """README's `jetactions serve shop.py:app --address ...`, on the README's own sample (on a
    loopback port: tests never listen beyond it)."""
    readme = (ROOT / "README.md").read_text()
    command = re.search(r"`(jetactions serve shop\.py:app --address) 0\.0\.0\.0:50051`", readme)
    assert command is not None, "README shows how to serve the sample"
    (sample,) = python_blocks(ROOT / "README.md", "## Writing an action server (Python)")
    (tmp_path / "shop.py").write_text(sample)
    argv = [*command.group(1).split(), "127.0.0.1:0"]
    bin_dir = Path(sys.executable).parent
    process = subprocess.Popen(
        [str(bin_dir / argv[0]), *argv[1:]],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # the first line is the start line
        assert re.search(r"serving on 127\.0\.0\.1:\d+ \(server shop, 4 actions: mail_users", line)
    finally:
        process.send_signal(signal.SIGTERM)
        rest = process.communicate(timeout=30)[0]
    assert process.returncode == 0
    assert "stopped" in rest
