"""Discovery against real processes: conflicts, late starters, kills and restarts."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest

from tests.support import BILLING, ActionServerProcess, Bridge, BridgeFactory, Spawn, service, until


async def action_names(bridge: Bridge) -> list[str]:
    reply = await bridge.send("get_action_list")
    assert reply.status == 200
    return [item["name"] for item in reply.json()]


async def run(bridge: Bridge, name: str, **params: Any) -> tuple[int, Any]:
    reply = await bridge.send("execute_action", {"name": name, "params": params})
    return reply.status, reply.json()


async def test_duplicates_go_to_the_service_configured_first(
    make_bridge: BridgeFactory,
    shop: ActionServerProcess,
    spawn: Spawn,
    caplog: pytest.LogCaptureFixture,
) -> None:
    twin = spawn(BILLING, "--duplicates")
    with caplog.at_level(logging.ERROR, logger="jetbridge"):
        shop_first = await make_bridge(service("shop", shop), service("billing", twin))
    names = await action_names(shop_first)
    assert names.count("mail_users") == 1
    mail = {"model": "users", "name": "mail_users", "ids": [1], "params": {"subject": "s"}}
    reply = await shop_first.send("execute_action", mail)
    assert reply.json()["message"] == "Mailed 1 users"
    options = await shop_first.send(
        "get_field_options", {"model": "orders", "field": "city", "form": {"country": "uk"}}
    )
    assert options.json()[0]["value"] == "london"
    conflicts = [r.getMessage() for r in caplog.records if "conflict" in r.getMessage()]
    assert any("action 'mail_users'" in line and "'shop' serves it" in line for line in conflicts)
    assert any("field options 'orders.city'" in line for line in conflicts)

    billing_first = await make_bridge(service("billing", twin), service("shop", shop))
    reply = await billing_first.send("execute_action", mail)
    assert reply.json()["message"] == "billing's mail_users"


async def test_a_service_down_at_start_joins_when_it_comes_up(
    make_bridge: BridgeFactory, shop: ActionServerProcess, spawn: Spawn
) -> None:
    late = spawn(BILLING, start=False)
    bridge = await make_bridge(service("shop", shop), service("billing", late))
    assert "charge" not in await action_names(bridge)
    assert (await bridge.send("get_action_list")).status == 200
    status, _body = await run(bridge, "charge", amount="1")
    assert status == 404
    index = (await bridge.request("GET", "/")).json()
    assert {"name": "billing", "state": "down"} in index["services"]

    await asyncio.to_thread(late.start)

    async def joined() -> bool:
        return "charge" in await action_names(bridge)

    await until(joined, "the late service's actions listed")
    assert await run(bridge, "charge", amount="1.5") == (
        200,
        {"result": True, "message": "Charged 1.5"},
    )


async def test_a_killed_service_fails_fast_with_503_and_recovers(
    make_bridge: BridgeFactory, shop: ActionServerProcess, spawn: Spawn
) -> None:
    billing = spawn(BILLING)
    bridge = await make_bridge(service("shop", shop), service("billing", billing, timeout=30))
    assert (await run(bridge, "charge", amount="1"))[0] == 200

    billing.kill()
    started = time.monotonic()
    status, body = await run(bridge, "charge", amount="1")
    assert status == 503
    assert body["code"] == "UNAVAILABLE"
    assert body["service"] == "billing"
    assert "billing" in body["detail"]
    again, _ = await run(bridge, "charge", amount="1")
    assert again == 503
    assert time.monotonic() - started < 15, "a down service must not wait for the 30 s deadline"
    # Its actions stay listed, and the other service is unaffected.
    assert "charge" in await action_names(bridge)
    assert (await run(bridge, "refresh_stats")) == (200, {"result": True})

    await asyncio.to_thread(billing.start)

    async def recovered() -> bool:
        return (await run(bridge, "charge", amount="2"))[0] == 200

    await until(recovered, "charge answered again")


async def test_a_service_killed_mid_call_gives_503(
    make_bridge: BridgeFactory, spawn: Spawn
) -> None:
    billing = spawn(BILLING)
    bridge = await make_bridge(service("billing", billing))
    started = billing.lines_with("slow: started")
    call = asyncio.create_task(run(bridge, "slow", seconds=5))
    await asyncio.to_thread(billing.wait_for_lines, "slow: started", started + 1)
    billing.kill()  # with the call running in the action server
    status, body = await call
    assert status == 503
    assert body["code"] == "UNAVAILABLE"


async def test_a_restarted_service_with_new_actions_is_picked_up(
    make_bridge: BridgeFactory, spawn: Spawn
) -> None:
    billing = spawn(BILLING)
    bridge = await make_bridge(service("billing", billing), refresh_interval=3600)
    assert "late_action" not in await action_names(bridge)
    billing.stop()
    billing.args = ("--extra",)
    await asyncio.to_thread(billing.start)

    async def available() -> bool:
        return (await run(bridge, "late_action"))[0] == 200

    await until(available, "late_action served")
    assert "late_action" in await action_names(bridge)
