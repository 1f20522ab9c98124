"""The generic checks through the bridge: Jet Admin's messages, made from what the server declares.

The same calls as the direct checks, sent as the browser sends them to a bridge in front of the
server, so that what the server answers is seen the way Jet Admin sees it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from jetactions.v1 import actions_pb2
from jetbridge.render import field_name
from jetconformance._bridge import relay, running_bridge
from jetconformance._calls import list_actions
from jetconformance._registry import Check, CheckFunction, check
from jetconformance._target import CheckFailed, CheckSkipped, Failures, Reply, Target, expect
from jetconformance.generic._inputs import (
    OptionsOf,
    first_required,
    ids_for,
    model_of,
    runnable,
    unknown_action_name,
    valid_inputs,
    wrong_input,
)


def _check(check_id: str, title: str) -> Callable[[CheckFunction], Check]:
    return check("generic", "bridge", check_id, title)


# Helpers --------------------------------------------------------------------------------------


def options_of(target: Target) -> OptionsOf:
    """get_field_options as the input maker asks it: the values of the options offered."""

    async def ask(model: str, field: str, form: dict[str, Any]) -> list[Any]:
        reply = await target.bridge.send(
            "get_field_options", {"model": model, "field": field, "form": form}
        )
        data = reply.json() if reply.status == 200 else None
        if not isinstance(data, list):
            raise CheckFailed(
                f"get_field_options ({model!r}, {field!r}) -> 200 with a list", reply.describe()
            )
        return [item.get("value") for item in data if isinstance(item, dict)]

    return ask


async def _execute(target: Target, action: actions_pb2.Action, inputs: dict[str, Any]) -> Reply:
    """execute_action of `action`, as Jet's client sends it."""
    message: dict[str, Any] = {"name": action.name, "params": inputs}
    if model := model_of(action):
        message["model"] = model
    if ids := ids_for(action):
        message["ids"] = ids
    return await target.bridge.send("execute_action", message)


def _outcome(reply: Reply) -> str | None:
    """What an execute_action answer is in Jet's terms, or None when it is none of them."""
    if reply.status == 200 and reply.disposition.startswith("attachment"):
        return "file"
    if not reply.content_type.startswith("application/json"):
        return None
    data = reply.json()
    if not isinstance(data, dict):
        return None
    if reply.status == 200 and "result" in data:
        return "result"
    if reply.status == 400 and data.get("result") is False:
        return "errors"
    return None


def _expect_field_error(call: str, reply: Reply, field: str) -> None:
    expected = f"{call} -> 400 with messages under {field!r}"
    data = reply.json() if reply.content_type.startswith("application/json") else None
    errors = data.get(field) if isinstance(data, dict) else None
    if reply.status != 400 or not (isinstance(errors, list) and errors):
        raise CheckFailed(expected, reply.describe())


def _entry(action: actions_pb2.Action) -> dict[str, Any]:
    """The part of a get_action_list entry that follows from the server's declaration."""
    data: dict[str, Any] = {"name": action.name}
    if action.HasField("model_action"):
        models = list(action.model_action.models)
        data["model_action"] = {
            "model": models[0] if len(models) == 1 else models,
            "for_instance": action.model_action.for_instance,
            "bulk": action.model_action.bulk,
        }
    else:
        data["common_action"] = {}
    data["params"] = [
        (param.name, field_name(param.field), param.required) for param in action.params
    ]
    return data


def _seen(item: Any) -> dict[str, Any]:
    """The same part of what the bridge lists."""
    if not isinstance(item, dict):
        return {"<not an object>": item}
    data = {key: item[key] for key in ("name", "model_action", "common_action") if key in item}
    data["params"] = [
        (param.get("name"), param.get("field"), param.get("required"))
        for param in item.get("params", [])
        if isinstance(param, dict)
    ]
    return data


# The checks -----------------------------------------------------------------------------------


@_check("bridge.discovery", "the bridge discovered the server: GET / shows it up")
async def discovery(target: Target) -> None:
    reply = await target.bridge.index()
    data = reply.json() if reply.status == 200 else None
    services = data.get("services") if isinstance(data, dict) else None
    states = [s.get("state") for s in services] if isinstance(services, list) else None
    if states != ["up"]:
        raise CheckFailed('200 with services [{"state": "up"}]', reply.describe())


@_check("bridge.action_list", "get_action_list shows every declared action as declared")
async def action_list(target: Target) -> str:
    listing = await list_actions(target)
    reply = await target.bridge.send("get_action_list")
    expect("get_action_list status", 200, reply.status)
    items = reply.json()
    if not isinstance(items, list):
        raise CheckFailed("a JSON array", reply.describe())
    expected = [_entry(action) for action in listing.actions]
    got = [_seen(item) for item in items]
    if got != expected:
        names = [item.get("name") if isinstance(item, dict) else item for item in items]
        wanted = [action.name for action in listing.actions]
        if names != wanted:
            raise CheckFailed(
                f"the actions {wanted} (as ListActions declares them now)", f"{names}"
            )
        first = next(i for i, (a, b) in enumerate(zip(expected, got, strict=True)) if a != b)
        raise CheckFailed(repr(expected[first]), repr(got[first]))
    return f"{len(items)} actions"


@_check("bridge.execute.well_typed", "execute_action with valid inputs: 200, 400 or a download")
async def well_typed(target: Target) -> str:
    listing = await list_actions(target)
    seen: Counter[str] = Counter()
    failures = Failures()
    for action in runnable(listing, target.exclude):
        with failures.of(action.name):
            inputs = await valid_inputs(action, options_of(target))
            reply = await _execute(target, action, inputs)
            outcome = _outcome(reply)
            if outcome is None:
                raise CheckFailed(
                    f"execute_action {action.name} {inputs} -> a result (200), field errors "
                    "(400) or a download",
                    reply.describe(),
                )
            seen[outcome] += 1
    failures.raise_any()
    return ", ".join(f"{n} {what}" for what, n in sorted(seen.items())) or "no action run"


@_check("bridge.execute.ill_typed", "execute_action with a wrong-typed input: 400 naming it")
async def ill_typed(target: Target) -> str:
    listing = await list_actions(target)
    checked = []
    failures = Failures()
    for action in runnable(listing, target.exclude):
        wrong = wrong_input(action)
        if wrong is None:
            continue
        checked.append(f"{action.name}.{wrong.name}")
        with failures.of(action.name):
            inputs = await valid_inputs(action, options_of(target))
            inputs[wrong.name] = wrong.value
            reply = await _execute(target, action, inputs)
            call = f"{action.name} with {wrong.name}={wrong.value!r}"
            _expect_field_error(call, reply, wrong.name)
    failures.raise_any()
    if not checked:
        raise CheckSkipped("no action has an input with a checkable type")
    return ", ".join(checked)


@_check("bridge.execute.missing_required", "execute_action without a required input: 400 naming it")
async def missing_required(target: Target) -> str:
    listing = await list_actions(target)
    checked = []
    failures = Failures()
    for action in runnable(listing, target.exclude):
        param = first_required(action)
        if param is None:
            continue
        checked.append(f"{action.name}.{param.name}")
        with failures.of(action.name):
            inputs = await valid_inputs(action, options_of(target))
            inputs.pop(param.name, None)
            reply = await _execute(target, action, inputs)
            _expect_field_error(f"{action.name} without {param.name}", reply, param.name)
    failures.raise_any()
    if not checked:
        raise CheckSkipped("no action has a required input")
    return ", ".join(checked)


@_check("bridge.field_options", "get_field_options of every source: 200 with options")
async def field_options(target: Target) -> None:
    listing = await list_actions(target)
    if not listing.field_options:
        raise CheckSkipped("no field_options declared")
    for ref in listing.field_options:
        reply = await target.bridge.send(
            "get_field_options", {"model": ref.model, "field": ref.field, "form": {}}
        )
        data = reply.json() if reply.status == 200 else None
        if not (isinstance(data, list) and all(isinstance(o, dict) and "value" in o for o in data)):
            raise CheckFailed(
                f"get_field_options ({ref.model!r}, {ref.field!r}) -> 200 with options",
                reply.describe(),
            )


@_check(
    "bridge.status.not_found",
    "an action the bridge routes but the server does not know: 404 with code NOT_FOUND",
)
async def not_found(target: Target) -> None:
    # A relay declares the extra action, so the bridge asks the server, which must say NOT_FOUND.
    name = unknown_action_name(await list_actions(target))
    async with (
        relay(target.address, name, target.secret) as address,
        running_bridge(address) as bridge,
    ):
        reply = await bridge.send("execute_action", {"name": name, "params": {}})
    data = reply.json() if reply.content_type.startswith("application/json") else None
    code = data.get("code") if isinstance(data, dict) else None
    if reply.status != 404 or code != "NOT_FOUND":
        raise CheckFailed(f"execute_action {name!r} -> 404 with code NOT_FOUND", reply.describe())
