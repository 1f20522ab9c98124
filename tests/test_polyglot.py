"""The mixed-language demo: one bridge in front of the Python, Go and Node examples at once.

Runs `scripts/demo-polyglot` itself (without its bootstrap and build), as a user would, and talks
to its bridge over HTTP.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from typing import Any

import aiohttp
import orjson
import psutil
import pytest

from jetconformance.shop import spec
from tests.support import (
    DEMO,
    GO_SHOP,
    LOGS,
    NODE_SHOP,
    READY,
    Demo,
    free_port,
    require_built,
    wait_until,
)

LANGUAGES = {"python": "", "go": "go_", "node": "node_"}
"""Each example in the demo, with the prefix the demo gives it."""


@pytest.fixture
def demo() -> Iterator[Demo]:
    """`scripts/demo-polyglot` on a free bridge port, started and ready."""
    require_built(GO_SHOP)
    require_built(NODE_SHOP)
    port = free_port()
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"demo-polyglot-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(DEMO)],
            env={**os.environ, "DEMO_SKIP_BUILD": "1", "BRIDGE_PORT": str(port)},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, as a terminal's Ctrl-C reaches it
        )
    running = Demo(process, port, log)
    try:
        wait_until(
            lambda: READY in running.output(), "the demo's ready line", 25, process, running.output
        )
        yield running
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)  # the group this fixture created
            process.wait(timeout=10)


async def send(session: aiohttp.ClientSession, url: str, name: str, params: Any = None) -> Any:
    message = {"name": name} if params is None else {"name": name, "params": params}
    async with session.post(url, json=message) as response:
        body = await response.read()
        assert response.status == 200, body
        if response.content_type == "application/json":
            return orjson.loads(body)
        return response.headers["Content-Disposition"], body


async def test_one_bridge_serves_the_actions_of_three_languages(demo: Demo) -> None:
    async with aiohttp.ClientSession() as session:
        actions = await send(session, demo.url, "get_action_list")
        names = sorted(action["name"] for action in actions)
        expected = sorted(prefix + a.name for prefix in LANGUAGES.values() for a in spec.ACTIONS)
        assert names == expected

        # One action of each language, each answered by its own server.
        python = await send(
            session,
            demo.url,
            "execute_action",
            {"model": "users", "name": "mail_users", "ids": [1, 2], "params": {"subject": "Hi"}},
        )
        assert python == {"result": True, "message": "Mailed 2 users"}
        go = await send(
            session,
            demo.url,
            "execute_action",
            {"model": "go_users", "name": "go_adjust_wallet", "id": 1, "params": {"amount": "5"}},
        )
        assert go == {"result": True, "html": "Wallet of <strong>Ada</strong> was updated"}
        inputs = {"carrier": "dhl", "country": "uk", "city": "leeds"}
        node = await send(
            session,
            demo.url,
            "execute_action",
            {"model": "node_orders", "name": "node_ship_order", "id": 42, "params": inputs},
        )
        assert node == {"result": True, "message": "Order 42 ships with DHL to Leeds"}
        disposition, csv = await send(
            session, demo.url, "execute_action", {"model": "go_users", "name": "go_export_users"}
        )
        assert disposition == 'attachment; filename="users.csv"'
        assert csv == spec.export_csv()
        form = {"model": "node_orders", "field": "city", "form": {"country": "italy"}}
        cities = await send(session, demo.url, "get_field_options", form)
        assert cities == [option.as_json() for option in spec.CITIES["italy"]]

        async with session.get(f"http://127.0.0.1:{demo.port}/") as response:
            services = (await response.json())["services"]
        assert {s["name"]: s["state"] for s in services} == dict.fromkeys(LANGUAGES, "up")
    assert "get_action_list: 15 actions: 5 Python, 5 Go, 5 Node" in demo.output()


def test_ctrl_c_stops_the_bridge_and_every_server(demo: Demo) -> None:
    children = psutil.Process(demo.process.pid).children(recursive=True)
    commands = " ".join(" ".join(child.cmdline()) for child in children)
    for part in ("shop.py", "bin/shop", "server.js", "jetbridge serve"):
        assert part in commands
    os.killpg(demo.process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    assert demo.process.wait(timeout=20) != 0
    _, alive = psutil.wait_procs(children, timeout=5)
    assert not alive, alive
    assert "stopped; logs are in" in demo.output()
