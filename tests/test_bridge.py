"""The bridge end to end: real HTTP in, real action-server processes behind it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.support import ActionServerProcess, Bridge, BridgeFactory, service

MAIL = {"model": "users", "name": "mail_users", "params": {"subject": "Hi"}}


@pytest.fixture
async def bridge(
    make_bridge: BridgeFactory, shop: ActionServerProcess, billing: ActionServerProcess
) -> Bridge:
    return await make_bridge(service("shop", shop), service("billing", billing))


async def test_action_list_merges_both_services_in_configured_order(bridge: Bridge) -> None:
    reply = await bridge.send("get_action_list")  # no params key, as the browser sends it
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("application/json")
    actions = {item["name"]: item for item in reply.json()}
    names = [item["name"] for item in reply.json()]
    assert names[:5] == [
        "mail_users",
        "adjust_wallet",
        "export_users",
        "ship_order",
        "refresh_stats",
    ]
    assert {"charge", "counted", "slow", "fail_with", "crash", "echo"} <= set(names[5:])
    assert actions["mail_users"]["model_action"] == {
        "model": "users",
        "for_instance": True,
        "bulk": True,
    }
    assert actions["mail_users"]["label"] == "Mail users"
    assert actions["mail_users"]["icon"] == "email"
    assert actions["refresh_stats"]["common_action"] == {}
    subject, body, urgent = actions["mail_users"]["params"]
    assert subject == {"name": "subject", "field": "CharField", "required": True, "params": {}}
    assert (body["field"], body["required"], body["default_value"]) == ("TextField", False, "")
    assert (urgent["field"], urgent["required"], urgent["default_value"]) == (
        "BooleanField",
        False,
        False,
    )
    carrier, _country, city = actions["ship_order"]["params"]
    assert carrier["field"] == "SelectField"
    assert carrier["params"]["options"] == [
        {"value": "dhl", "name": "DHL"},
        {"value": "ups", "name": "UPS"},
    ]
    assert city["params"]["options_type"] == "dynamic"
    assert actions["adjust_wallet"]["params"][0]["field"] == "DecimalField"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({**MAIL, "ids": [1, 2], "inverseIds": False}, "Mailed 2 users"),
        ({**MAIL, "id": 5}, "Mailed 1 users"),
        ({**MAIL, "params": {"subject": "Hi", "ids": "1,2"}}, "Mailed 2 users"),
        ({**MAIL, "ids": "1, 2,3"}, "Mailed 3 users"),
        ({**MAIL, "ids": [1], "inverseIds": True}, "Mailed 4 users"),
    ],
    ids=["ids-array", "single-id", "nested-comma-string", "top-comma-string", "inverse"],
)
async def test_execute_bulk_action_accepts_every_id_form(
    bridge: Bridge, params: dict[str, Any], message: str
) -> None:
    reply = await bridge.send("execute_action", params)
    assert (reply.status, reply.json()) == (200, {"result": True, "message": message})


async def test_params_may_arrive_as_a_json_string(bridge: Bridge) -> None:
    reply = await bridge.send(
        "execute_action",
        '{"model": "users", "name": "mail_users", "ids": [3], "params": {"subject": "x"}}',
    )
    assert (reply.status, reply.json()) == (200, {"result": True, "message": "Mailed 1 users"})


async def test_ids_keep_their_json_types_and_unknown_keys_pass_through(bridge: Bridge) -> None:
    params = {
        "model": "invoices",
        "name": "echo",
        "ids": [7, "a1b2-uuid", 2.5],
        "inverseIds": True,
        "params": {"note": "n"},
        "futureKey": {"nested": [1, None]},
    }
    reply = await bridge.send("execute_action", params)
    assert reply.status == 200
    body = reply.json()
    assert body["ids"] == [7, "a1b2-uuid", 2.5]
    assert body["inverse_ids"] is True
    assert body["model"] == "invoices"
    assert body["inputs"] == {"note": "n"}
    assert body["params"] == params
    # gRPC encodes the deadline in whole units, so the server may see slightly more.
    assert 0 < body["time_remaining"] <= 10.5


async def test_html_result_and_field_errors(bridge: Bridge) -> None:
    ok = await bridge.send(
        "execute_action",
        {"model": "users", "name": "adjust_wallet", "id": 1, "params": {"amount": "2.50"}},
    )
    assert (ok.status, ok.json()) == (
        200,
        {"result": True, "html": "Wallet of <strong>Ada</strong> was updated"},
    )
    refused = await bridge.send(
        "execute_action",
        {"model": "users", "name": "adjust_wallet", "id": 1, "params": {"amount": "-1"}},
    )
    assert refused.status == 400
    assert refused.json() == {
        "amount": ["must be positive"],
        "detail": "amount: must be positive",
        "result": False,
        "errors": {"amount": ["must be positive"]},
    }


async def test_invalid_inputs_are_field_errors_and_the_handler_is_not_called(
    bridge: Bridge,
) -> None:
    before = (await bridge.send("execute_action", {"name": "call_count"})).json()["result"]
    missing = await bridge.send("execute_action", {"name": "counted", "params": {}})
    wrong = await bridge.send("execute_action", {"name": "counted", "params": {"amount": "many"}})
    assert missing.status == wrong.status == 400
    assert list(missing.json()["amount"]) == ["This field is required."]
    assert wrong.json()["amount"]
    assert wrong.json()["result"] is False
    after = (await bridge.send("execute_action", {"name": "call_count"})).json()["result"]
    assert after == before
    ran = await bridge.send("execute_action", {"name": "counted", "params": {"amount": "3"}})
    assert ran.status == 200
    assert ran.json()["amount"] == 3
    assert (await bridge.send("execute_action", {"name": "call_count"})).json()[
        "result"
    ] == before + 1


async def test_sync_and_async_handlers(bridge: Bridge) -> None:
    sync = await bridge.send("execute_action", {"name": "refresh_stats"})
    assert (sync.status, sync.json()) == (200, {"result": True})
    ship = await bridge.send(
        "execute_action",
        {
            "model": "orders",
            "name": "ship_order",
            "id": 42,
            "params": {"carrier": "dhl", "country": "uk", "city": "leeds"},
        },
    )
    assert (ship.status, ship.json()) == (
        200,
        {"result": True, "message": "Order 42 ships with DHL to Leeds"},
    )


async def test_file_result_is_a_download(bridge: Bridge) -> None:
    reply = await bridge.send("execute_action", {"model": "users", "name": "export_users"})
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/csv")
    assert reply.headers["Content-Disposition"] == 'attachment; filename="users.csv"'
    lines = reply.body.decode().splitlines()
    assert lines[0] == "id,name,email"
    assert lines[1] == "1,Ada,ada@example.com"
    assert len(lines) == 6


@pytest.mark.parametrize(
    ("country", "values"),
    [("italy", ["rome", "milan"]), ("uk", ["london", "leeds"]), ("france", [])],
)
async def test_field_options_depend_on_the_form(
    bridge: Bridge, country: str, values: list[str]
) -> None:
    reply = await bridge.send(
        "get_field_options", {"model": "orders", "field": "city", "form": {"country": country}}
    )
    assert reply.status == 200
    assert [option["value"] for option in reply.json()] == values
    if values:
        assert set(reply.json()[0]) == {"value", "name", "color"}


async def test_unknown_field_options_source_is_404(bridge: Bridge) -> None:
    reply = await bridge.send("get_field_options", {"model": "orders", "field": "nope"})
    assert reply.status == 404
    assert "orders.nope" in reply.json()["detail"]


# Every gRPC status an action server can end a call with, and what the browser gets.
STATUS_MAP = {
    "CANCELLED": 499,
    "UNKNOWN": 502,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 502,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 502,
    "UNAUTHENTICATED": 401,
}


@pytest.mark.parametrize(("code", "status"), STATUS_MAP.items())
async def test_every_grpc_status_maps_to_its_http_status(
    make_bridge: BridgeFactory, billing: ActionServerProcess, code: str, status: int
) -> None:
    bridge = await make_bridge(service("billing", billing))
    reply = await bridge.send("execute_action", {"name": "fail_with", "params": {"code": code}})
    assert reply.status == status
    body = reply.json()
    assert body["code"] == code
    assert body["service"] == "billing"
    assert isinstance(body["detail"], str)
    assert body["detail"]
    if code in {"NOT_FOUND", "PERMISSION_DENIED", "INVALID_ARGUMENT", "ABORTED"}:
        assert body["detail"] == f"failed with {code}"  # the server's own message reaches the user


async def test_action_crash_is_502_without_internals(bridge: Bridge) -> None:
    reply = await bridge.send("execute_action", {"name": "crash"})
    assert reply.status == 502
    assert reply.json()["detail"] == "action server 'billing' failed"
    assert b"internal detail" not in reply.body


async def test_deadline_exceeded_is_504(
    make_bridge: BridgeFactory, billing: ActionServerProcess
) -> None:
    bridge = await make_bridge(service("billing", billing, timeout=0.3))
    reply = await bridge.send("execute_action", {"name": "slow", "params": {"seconds": 3}})
    assert reply.status == 504
    assert reply.json() == {
        "code": "DEADLINE_EXCEEDED",
        "service": "billing",
        "detail": "action server 'billing' did not answer in time",
    }
    # The bridge keeps serving meanwhile.
    assert (
        await bridge.send("execute_action", {"name": "slow", "params": {"seconds": 0}})
    ).status == 200


async def test_slow_call_does_not_block_others(bridge: Bridge) -> None:
    slow = asyncio.create_task(
        bridge.send("execute_action", {"name": "slow", "params": {"seconds": 1.5}})
    )
    quick = await bridge.send("get_action_list")
    assert quick.status == 200
    assert not slow.done()
    assert (await slow).status == 200


async def test_unknown_action_is_404(bridge: Bridge) -> None:
    reply = await bridge.send("execute_action", {"name": "no_such_action"})
    assert reply.status == 404
    assert reply.json() == {
        "name": ["unknown action 'no_such_action'"],
        "detail": "Unknown action 'no_such_action'",
    }


@pytest.mark.parametrize(
    ("message", "status", "field"),
    [
        ({"params": {}}, 400, "name"),
        ({"name": 5}, 400, "name"),
        ({"name": ""}, 400, "name"),
        ({"name": "nope"}, 400, "name"),
        ({"name": "execute_action"}, 400, "name"),
        ({"name": "execute_action", "params": {"name": "mail_users", "ids": {"a": 1}}}, 400, "ids"),
        ({"name": "execute_action", "params": {"name": "mail_users", "ids": [True]}}, 400, "ids"),
        (
            {"name": "execute_action", "params": {"name": "mail_users", "inverseIds": "yes"}},
            400,
            "inverseIds",
        ),
        ({"name": "execute_action", "params": {"name": "mail_users", "model": 3}}, 400, "model"),
        (
            {"name": "execute_action", "params": {"name": "mail_users", "params": [1]}},
            400,
            "params.params",
        ),
        ({"name": "execute_action", "params": "{not json"}, 400, "params"),
        ({"name": "execute_action", "params": 7}, 400, "params"),
        ({"name": "get_field_options", "params": {"model": "orders"}}, 400, "field"),
        (
            {
                "name": "get_field_options",
                "params": {"model": "orders", "field": "city", "form": "[]"},
            },
            400,
            "params.form",
        ),
    ],
)
async def test_bad_messages_get_jet_shaped_400s(
    bridge: Bridge, message: dict[str, Any], status: int, field: str
) -> None:
    reply = await bridge.post(json=message)
    assert reply.status == status
    body = reply.json()
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert isinstance(body[field], list)
    assert body[field]


async def test_malformed_json_and_non_objects(bridge: Bridge) -> None:
    headers = {"Content-Type": "application/json;charset=utf-8"}
    broken = await bridge.post(data=b"{not json", headers=headers)
    assert broken.status == 400
    assert broken.json()["non_field_errors"][0].startswith("Incorrect JSON body")
    array = await bridge.post(data=b"[1, 2]", headers=headers)
    assert array.status == 400
    assert array.json()["detail"]
    invalid_utf8 = await bridge.post(data=b'{"name": "\xff"}', headers=headers)
    assert invalid_utf8.status == 400
    assert invalid_utf8.json()["detail"]


async def test_get_element_status_answers_null(bridge: Bridge) -> None:
    reply = await bridge.send("get_element_status", {"anything": 1})
    assert (reply.status, reply.body) == (200, b"null")


async def test_wrong_method_path_type_and_size_are_json(
    make_bridge: BridgeFactory, shop: ActionServerProcess
) -> None:
    bridge = await make_bridge(service("shop", shop), max_body_bytes=1024)
    get = await bridge.request("GET", "/api/messages/")
    assert get.status == 405
    assert "POST" in get.json()["detail"]
    assert "POST" in get.headers["Allow"]
    missing = await bridge.request("GET", "/nowhere")
    assert missing.status == 404
    assert "/api/messages/" in missing.json()["detail"]
    form = await bridge.post(data={"name": "get_action_list"})
    assert form.status == 415
    assert "application/json" in form.json()["detail"]
    large = await bridge.post(json={"name": "get_action_list", "pad": "x" * 2048})
    assert large.status == 413
    assert large.json() == {"detail": "The request body is too large"}
    # Nothing above disturbed the bridge.
    assert (await bridge.send("get_action_list")).status == 200


async def test_index_describes_the_bridge(bridge: Bridge) -> None:
    reply = await bridge.request("GET", "/")
    body = reply.json()
    assert body["messages_url"] == "/api/messages/"
    assert body["services"] == [{"name": "shop", "state": "up"}, {"name": "billing", "state": "up"}]
    assert any("authentication is disabled" in warning for warning in body["warnings"])
