"""The shop's checks through the bridge: Jet Admin's JSON messages, as the browser sends them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from jetconformance._bridge import relay, running_bridge
from jetconformance._registry import Check, CheckFunction, check
from jetconformance._target import CheckFailed, Reply, Target, expect
from jetconformance.shop import spec

_MISSING = object()


def _check(check_id: str, title: str) -> Callable[[CheckFunction], Check]:
    return check("shop", "bridge", check_id, title)


# Helpers --------------------------------------------------------------------------------------


def _shop(target: Target) -> spec.Shop:
    """The shop's names as this server declares them (with its prefix)."""
    return spec.Shop(target.prefix)


async def _execute(target: Target, action: str, model: str | None = None, **params: Any) -> Reply:
    """execute_action of one shop action (names without prefix), as Jet's client sends it."""
    message: dict[str, Any] = {"name": _shop(target).action(action), **params}
    if model is not None:
        message["model"] = _shop(target).model(model)
    return await target.bridge.send("execute_action", message)


def expect_reply(
    call: str,
    reply: Reply,
    status: int,
    body: dict[str, Any],
    *,
    absent: Sequence[str] = (),
) -> None:
    """`status`, a JSON object holding every key of `body` with its value, none of `absent`."""
    expected = f"{call} -> {status} with {body}" + (f" and no {list(absent)}" if absent else "")
    if reply.status != status or not reply.content_type.startswith("application/json"):
        raise CheckFailed(expected, reply.describe())
    data = reply.json()
    if not isinstance(data, dict):
        raise CheckFailed(expected, reply.describe())
    if any(data.get(key, _MISSING) != value for key, value in body.items()):
        raise CheckFailed(expected, reply.describe())
    if any(key in data for key in absent):
        raise CheckFailed(expected, reply.describe())


def _jet_action(shop: spec.Shop, action: spec.ActionSpec) -> dict[str, Any]:
    """The part of a get_action_list entry the spec decides."""
    data: dict[str, Any] = {"name": shop.action(action.name), "label": action.label}
    if action.icon is not None:
        data["icon"] = action.icon
    if action.model is None:
        data["common_action"] = {}
    else:
        data["model_action"] = {
            "model": shop.model(action.model),
            "for_instance": action.for_instance,
            "bulk": action.bulk,
        }
    data["params"] = [_jet_param(param) for param in action.params]
    return data


def _jet_param(param: spec.ParamSpec) -> dict[str, Any]:
    data: dict[str, Any] = {"name": param.name, "field": param.field, "required": param.required}
    if param.default is not spec.NO_DEFAULT:
        data["default_value"] = param.default
    if param.options:
        data["options_type"] = "static"
        data["options"] = [option.as_json() for option in param.options]
    if param.options_from_server:
        data["options_type"] = "dynamic"
    return data


def _same_keys(expected: dict[str, Any], got: Any) -> dict[str, Any]:
    """`got` cut down to the keys the spec decides, so that extra keys do not fail a check."""
    if not isinstance(got, dict):
        return {"<not an object>": got}
    picked = {key: got[key] for key in expected if key in got and key != "params"}
    if "params" in expected:
        params = got.get("params", [])
        picked["params"] = [_picked_param(item) for item in params] if params else []
    return picked


def _picked_param(item: Any) -> Any:
    if not isinstance(item, dict):
        return item
    picked = {
        key: item[key] for key in ("name", "field", "required", "default_value") if key in item
    }
    options = item.get("params", {})
    picked.update({key: options[key] for key in ("options_type", "options") if key in options})
    return picked


def first_difference(expected: Any, got: Any, path: str) -> tuple[str, Any, Any] | None:
    """Where two JSON values first differ: (path, expected part, got part), or None."""
    if isinstance(expected, dict) and isinstance(got, dict):
        for key in [*expected, *(key for key in got if key not in expected)]:
            difference = first_difference(
                expected.get(key, _MISSING), got.get(key, _MISSING), f"{path}.{key}"
            )
            if difference is not None:
                return difference
        return None
    if isinstance(expected, list) and isinstance(got, list) and len(expected) == len(got):
        for index, (left, right) in enumerate(zip(expected, got, strict=True)):
            difference = first_difference(left, right, f"{path}[{index}]")
            if difference is not None:
                return difference
        return None
    if expected == got:
        return None
    return path, expected, got


def _show(value: Any) -> str:
    return "(absent)" if value is _MISSING else repr(value)


def _mail(**inputs: Any) -> dict[str, Any]:
    return {"subject": "Hello", **inputs}


# Discovery and get_action_list -------------------------------------------------------------


@_check("bridge.discovery", "the bridge discovered the server: GET / shows it up")
async def discovery(target: Target) -> None:
    reply = await target.bridge.index()
    data = reply.json() if reply.status == 200 else None
    services = data.get("services") if isinstance(data, dict) else None
    states = [s.get("state") for s in services] if isinstance(services, list) else None
    if states != ["up"]:
        raise CheckFailed('200 with services [{"state": "up"}]', reply.describe())


@_check("bridge.action_list.names", "get_action_list lists exactly the shop's actions")
async def action_list_names(target: Target) -> None:
    reply = await target.bridge.send("get_action_list")
    expect("get_action_list status", 200, reply.status)
    items = reply.json()
    if not isinstance(items, list):
        raise CheckFailed("a JSON array", reply.describe())
    names = sorted(
        str(item.get("name")) if isinstance(item, dict) else repr(item) for item in items
    )
    expect("action names", sorted(_shop(target).action(a.name) for a in spec.ACTIONS), names)


@_check("bridge.action_list.shape", "each entry: label, icon, model_action/common_action, params")
async def action_list_shape(target: Target) -> None:
    reply = await target.bridge.send("get_action_list")
    items = reply.json()
    if not isinstance(items, list):
        raise CheckFailed("a JSON array", reply.describe())
    by_name = {item.get("name"): item for item in items if isinstance(item, dict)}
    for action in spec.ACTIONS:
        expected = _jet_action(_shop(target), action)
        got = by_name.get(expected["name"])
        if got is None:
            raise CheckFailed(
                f"an entry named {expected['name']!r}", f"{sorted(map(str, by_name))}"
            )
        difference = first_difference(expected, _same_keys(expected, got), expected["name"])
        if difference is not None:
            path, wanted, found = difference
            raise CheckFailed(f"{path} = {_show(wanted)}", _show(found))


# execute_action -----------------------------------------------------------------------------


@_check("bridge.execute.ids_array", "mail_users with ids [1, 2, 3]: 200 and the message")
async def ids_array(target: Target) -> None:
    reply = await _execute(
        target, "mail_users", "users", ids=[1, 2, 3], inverseIds=False, params=_mail()
    )
    body = {"result": True, "message": spec.mailed(3)}
    expect_reply("mail_users ids=[1, 2, 3]", reply, 200, body, absent=["html"])


@_check("bridge.execute.single_id", "mail_users with a single `id`: 5")
async def single_id(target: Target) -> None:
    reply = await _execute(target, "mail_users", "users", id=5, params=_mail())
    expect_reply("mail_users id=5", reply, 200, {"result": True, "message": spec.mailed(1)})


@_check("bridge.execute.comma_ids", 'mail_users with ids "2,4" inside the form params')
async def comma_ids(target: Target) -> None:
    # The bridge sends comma-separated ids as strings: the server must accept "2" for user 2.
    reply = await _execute(target, "mail_users", "users", params=_mail(ids="2,4"))
    expect_reply('mail_users params.ids="2,4"', reply, 200, {"message": spec.mailed(2)})


@_check("bridge.execute.string_ids", 'mail_users with ids as strings ["1", "5"]')
async def string_ids(target: Target) -> None:
    reply = await _execute(target, "mail_users", "users", ids=["1", "5"], params=_mail())
    expect_reply('mail_users ids=["1", "5"]', reply, 200, {"message": spec.mailed(2)})


@_check("bridge.execute.inverse_ids", "mail_users with ids [1] and inverseIds: true")
async def inverse_ids(target: Target) -> None:
    reply = await _execute(target, "mail_users", "users", ids=[1], inverseIds=True, params=_mail())
    body = {"result": True, "message": spec.mailed(len(spec.USERS) - 1)}
    expect_reply("mail_users ids=[1] inverseIds=true", reply, 200, body)


@_check("bridge.execute.html", 'adjust_wallet id 3, amount "1.25": 200 and the html')
async def html(target: Target) -> None:
    reply = await _execute(target, "adjust_wallet", "users", id=3, params={"amount": "1.25"})
    body = {"result": True, "html": spec.wallet_updated(spec.user(3))}
    expect_reply('adjust_wallet id=3 amount="1.25"', reply, 200, body, absent=["message"])


@_check("bridge.execute.file", "export_users: a users.csv download with text/csv")
async def file(target: Target) -> None:
    reply = await _execute(target, "export_users", "users")
    expected = f"200, {spec.EXPORT_CONTENT_TYPE}, attachment {spec.EXPORT_FILENAME}, the CSV"
    if reply.status != 200:
        raise CheckFailed(expected, reply.describe())
    expect("Content-Type", spec.EXPORT_CONTENT_TYPE, reply.content_type.split(";")[0].strip())
    disposition = f'attachment; filename="{spec.EXPORT_FILENAME}"'
    expect("Content-Disposition", disposition, reply.disposition)
    expect("body", spec.export_csv(), reply.body)


@_check("bridge.execute.select_options", "ship_order id 42 via UPS to Milan")
async def ship_order(target: Target) -> None:
    ups, milan = spec.CARRIERS[1], spec.CITIES["italy"][1]
    inputs = {"carrier": ups.value, "country": "italy", "city": milan.value}
    reply = await _execute(target, "ship_order", "orders", id=42, params=inputs)
    body = {"result": True, "message": spec.shipped(42, ups, milan)}
    expect_reply(f"ship_order id=42 {inputs}", reply, 200, body)


@_check("bridge.execute.common", "refresh_stats with no model: 200 {result: true}")
async def common(target: Target) -> None:
    reply = await _execute(target, "refresh_stats", params={})
    expect_reply("refresh_stats", reply, 200, {"result": True}, absent=["message", "html"])


# Status codes --------------------------------------------------------------------------------


@_check("bridge.status.field_error", "adjust_wallet amount -5: 400 {amount: [must be positive]}")
async def field_error(target: Target) -> None:
    reply = await _execute(target, "adjust_wallet", "users", id=1, params={"amount": "-5"})
    body = {"amount": [spec.AMOUNT_ERROR], "result": False}
    expect_reply('adjust_wallet id=1 amount="-5"', reply, 400, body)


@_check("bridge.status.missing_required", "mail_users without subject: 400 with a subject error")
async def missing_required(target: Target) -> None:
    reply = await _execute(target, "mail_users", "users", ids=[1], params={})
    expect_reply("mail_users without subject", reply, 400, {"result": False})
    errors = reply.json().get("subject")
    if not (isinstance(errors, list) and errors):
        raise CheckFailed("a non-empty list under `subject`", reply.describe())


@_check("bridge.status.non_field_error", "mail_users ids [1, 99]: 400 with non_field_errors")
async def non_field_error(target: Target) -> None:
    reply = await _execute(target, "mail_users", "users", ids=[1, 99], params=_mail())
    body = {"non_field_errors": [spec.unknown_user(99)], "result": False}
    expect_reply("mail_users ids=[1, 99]", reply, 400, body)


@_check(
    "bridge.status.not_found",
    "an action the bridge routes but the server does not know: 404 with code NOT_FOUND",
)
async def not_found(target: Target) -> None:
    # A relay declares the extra action, so the bridge asks the server, which must say NOT_FOUND.
    name = _shop(target).action("no_such_action")
    async with (
        relay(target.address, name, target.secret) as address,
        running_bridge(address) as bridge,
    ):
        reply = await bridge.send("execute_action", {"name": name, "params": {}})
    expect_reply(f"execute_action {name!r}", reply, 404, {"code": "NOT_FOUND"})


# get_field_options ---------------------------------------------------------------------------


async def _field_options(target: Target, country: str) -> None:
    params = {"model": _shop(target).model("orders"), "field": "city", "form": {"country": country}}
    reply = await target.bridge.send("get_field_options", params)
    expected = [option.as_json() for option in spec.CITIES.get(country, ())]
    if reply.status != 200:
        raise CheckFailed(f"200 with {expected}", reply.describe())
    expect(f"get_field_options country={country!r}", expected, reply.json())


@_check("bridge.field_options.italy", "get_field_options (orders, city), country italy")
async def options_italy(target: Target) -> None:
    await _field_options(target, "italy")


@_check("bridge.field_options.uk", "get_field_options (orders, city), country uk")
async def options_uk(target: Target) -> None:
    await _field_options(target, "uk")


@_check("bridge.field_options.other", "get_field_options (orders, city), another country: []")
async def options_other(target: Target) -> None:
    await _field_options(target, "spain")
