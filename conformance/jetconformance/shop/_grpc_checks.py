"""The shop's checks that call the server directly over gRPC, with the generated Python stub."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from jetactions.contract import HEALTH_SERVICES
from jetactions.v1 import actions_pb2
from jetbridge.convert import fill_struct, from_value
from jetconformance._calls import (
    delayed_call,
    describe,
    errors_of,
    execute_request,
    field_type_name,
    list_actions,
    option_json,
    passed_deadline_verdict,
)
from jetconformance._registry import Check, CheckFunction, check
from jetconformance._target import CALL_TIMEOUT, CheckFailed, Target, expect
from jetconformance.shop import spec


def _check(check_id: str, title: str) -> Callable[[CheckFunction], Check]:
    return check("shop", "grpc", check_id, title)


# Helpers --------------------------------------------------------------------------------------


def _shop(target: Target) -> spec.Shop:
    """The shop's names as this server declares them (with its prefix)."""
    return spec.Shop(target.prefix)


async def _execute(
    target: Target,
    action: str,
    *,
    model: str | None = None,
    ids: Sequence[int | str] = (),
    inverse_ids: bool = False,
    inputs: dict[str, Any] | None = None,
) -> actions_pb2.ExecuteActionResponse:
    """ExecuteAction of one shop action (name without prefix; `model` likewise)."""
    return await target.stub.ExecuteAction(
        _request(target, action, model=model, ids=ids, inverse_ids=inverse_ids, inputs=inputs),
        timeout=CALL_TIMEOUT,
    )


def _request(
    target: Target,
    action: str,
    *,
    model: str | None = None,
    ids: Sequence[int | str] = (),
    inverse_ids: bool = False,
    inputs: dict[str, Any] | None = None,
) -> actions_pb2.ExecuteActionRequest:
    shop = _shop(target)
    return execute_request(
        shop.action(action),
        model=shop.model(model) if model else "",
        ids=ids,
        inverse_ids=inverse_ids,
        inputs=inputs,
    )


def expect_result(
    call: str,
    response: actions_pb2.ExecuteActionResponse,
    *,
    message: str | None = None,
    html: str | None = None,
) -> None:
    """A `result` outcome whose value is true (or unset) with exactly this message and html."""
    got = describe(response)
    wanted = ["result(value true or unset"]
    wanted += [f"message={message!r}"] if message is not None else ["no message"]
    wanted += [f"html={html!r}"] if html is not None else ["no html"]
    expected = f"{call} -> {', '.join(wanted)})"
    if response.WhichOneof("outcome") != "result":
        raise CheckFailed(expected, got)
    result = response.result
    value_ok = not result.HasField("value") or from_value(result.value) is True
    message_ok = (result.message if result.HasField("message") else None) == message
    html_ok = (result.html if result.HasField("html") else None) == html
    if not (value_ok and message_ok and html_ok):
        raise CheckFailed(expected, got)


def expect_errors(
    call: str,
    response: actions_pb2.ExecuteActionResponse,
    *,
    exactly: dict[str, list[str]] | None = None,
    on: str | None = None,
) -> None:
    """An `errors` outcome: `exactly` these errors, or at least one message on input `on`."""
    got = describe(response)
    if exactly is not None:
        expected = f"{call} -> errors({exactly!r})"
    else:
        expected = f"{call} -> errors with a message on {on!r}"
    if response.WhichOneof("outcome") != "errors":
        raise CheckFailed(expected, got)
    errors = errors_of(response.errors)
    if exactly is not None and errors != exactly:
        raise CheckFailed(expected, got)
    if on is not None and not errors.get(on):
        raise CheckFailed(expected, got)


def _declared(listing: actions_pb2.ListActionsResponse, name: str) -> actions_pb2.Action:
    for action in listing.actions:
        if action.name == name:
            return action
    raise CheckFailed(f"an action named {name!r}", f"{[a.name for a in listing.actions]}")


# Health and ListActions --------------------------------------------------------------------


@_check("grpc.health", 'grpc.health.v1 Check("") and Check("jetactions.v1.ActionService")')
async def health(target: Target) -> None:
    stub = health_pb2_grpc.HealthStub(target.channel)
    for service in HEALTH_SERVICES:
        reply = await stub.Check(
            health_pb2.HealthCheckRequest(service=service), timeout=CALL_TIMEOUT
        )
        status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
        expect(f"Check({service!r}).status", "SERVING", status)


@_check("grpc.list.names", "ListActions declares the shop's actions, in order")
async def list_names(target: Target) -> None:
    listing = await list_actions(target)
    expected = [_shop(target).action(a.name) for a in spec.ACTIONS]
    expect("action names", expected, [a.name for a in listing.actions])


@_check("grpc.list.kinds", "model/common kind, models, for_instance and bulk of every action")
async def list_kinds(target: Target) -> None:
    listing = await list_actions(target)
    for action_spec in spec.ACTIONS:
        action = _declared(listing, _shop(target).action(action_spec.name))
        if action_spec.model is None:
            expect(f"{action.name}: kind", "common_action", action.WhichOneof("kind"))
            continue
        expect(f"{action.name}: kind", "model_action", action.WhichOneof("kind"))
        model_action = action.model_action
        expected = (
            [_shop(target).model(action_spec.model)],
            action_spec.for_instance,
            action_spec.bulk,
        )
        got = (list(model_action.models), model_action.for_instance, model_action.bulk)
        expect(f"{action.name}: (models, for_instance, bulk)", expected, got)


@_check("grpc.list.labels", "labels, and the icon where ACTIONS.md names one")
async def list_labels(target: Target) -> None:
    listing = await list_actions(target)
    for action_spec in spec.ACTIONS:
        action = _declared(listing, _shop(target).action(action_spec.name))
        expect(f"{action.name}: label", action_spec.label, action.label)
        if action_spec.icon is not None:
            expect(f"{action.name}: icon", action_spec.icon, action.icon)


@_check("grpc.list.params", "params: names, types, required, defaults, static options")
async def list_params(target: Target) -> None:
    listing = await list_actions(target)
    for action_spec in spec.ACTIONS:
        action = _declared(listing, _shop(target).action(action_spec.name))
        names = [p.name for p in action.params]
        expect(f"{action.name}: param names", [p.name for p in action_spec.params], names)
        for param_spec, param in zip(action_spec.params, action.params, strict=True):
            where = f"{action.name}.{param.name}"
            expect(
                f"{where}: field",
                field_type_name(param_spec.field_type),
                field_type_name(param.field),
            )
            expect(f"{where}: required", param_spec.required, param.required)
            default = from_value(param.default_value) if param.HasField("default_value") else None
            if param_spec.default is spec.NO_DEFAULT:
                expect(f"{where}: has default_value", False, param.HasField("default_value"))
            else:
                expect(f"{where}: has default_value", True, param.HasField("default_value"))
                expect(f"{where}: default_value", param_spec.default, default)
            options = [option_json(o) for o in param.options]
            expect(f"{where}: options", [o.as_json() for o in param_spec.options], options)
            expect(
                f"{where}: options_from_server",
                param_spec.options_from_server,
                param.options_from_server,
            )


@_check("grpc.list.field_options", "ListActions.field_options is exactly (orders, city)")
async def list_field_options(target: Target) -> None:
    listing = await list_actions(target)
    expected = [(_shop(target).model(model), field) for model, field in spec.FIELD_OPTIONS]
    expect("field_options", expected, [(r.model, r.field) for r in listing.field_options])


@_check(
    "grpc.list.field_options_refs",
    "every options_from_server param has a field_options entry (its model, its name)",
)
async def list_field_options_refs(target: Target) -> None:
    # A contract rule, not a shop detail: the bridge routes get_field_options by (model, field).
    listing = await list_actions(target)
    declared = {(ref.model, ref.field) for ref in listing.field_options}
    for action in listing.actions:
        models = list(action.model_action.models) if action.HasField("model_action") else [""]
        for param in action.params:
            if not param.options_from_server:
                continue
            for model in models:
                if (model, param.name) not in declared:
                    raise CheckFailed(
                        f"({model!r}, {param.name!r}) in field_options (for {action.name})",
                        f"{sorted(declared)}",
                    )


# ExecuteAction ------------------------------------------------------------------------------


@_check("grpc.execute.number_ids", "mail_users with ids as numbers [1, 2]")
async def number_ids(target: Target) -> None:
    response = await _execute(target, "mail_users", model="users", ids=[1, 2], inputs=_mail())
    expect_result("mail_users ids=[1, 2]", response, message=spec.mailed(2))


@_check("grpc.execute.string_ids", 'mail_users with ids as strings ["1", "3", "5"]')
async def string_ids(target: Target) -> None:
    inputs = _mail(body="Hello\nagain", urgent=True)
    response = await _execute(
        target, "mail_users", model="users", ids=["1", "3", "5"], inputs=inputs
    )
    expect_result('mail_users ids=["1", "3", "5"]', response, message=spec.mailed(3))


@_check("grpc.execute.single_id", "mail_users with a single id [5]")
async def single_id(target: Target) -> None:
    response = await _execute(target, "mail_users", model="users", ids=[5], inputs=_mail())
    expect_result("mail_users ids=[5]", response, message=spec.mailed(1))


@_check("grpc.execute.inverse_ids", "mail_users with inverse_ids: every user except ids")
async def inverse_ids(target: Target) -> None:
    total = len(spec.USERS)
    response = await _execute(
        target, "mail_users", model="users", ids=[1, 2], inverse_ids=True, inputs=_mail()
    )
    expect_result("mail_users ids=[1, 2] inverse_ids", response, message=spec.mailed(total - 2))
    response = await _execute(target, "mail_users", model="users", inverse_ids=True, inputs=_mail())
    expect_result("mail_users ids=[] inverse_ids", response, message=spec.mailed(total))


@_check("grpc.execute.unknown_id", "mail_users with an id that is not a user: a non-field error")
async def unknown_id(target: Target) -> None:
    response = await _execute(target, "mail_users", model="users", ids=[1, 99], inputs=_mail())
    expected = {"non_field_errors": [spec.unknown_user(99)]}
    expect_errors("mail_users ids=[1, 99]", response, exactly=expected)


@_check("grpc.execute.missing_required", "mail_users without its required `subject`")
async def missing_required(target: Target) -> None:
    response = await _execute(target, "mail_users", model="users", ids=[1], inputs={"body": "x"})
    expect_errors("mail_users without subject", response, on="subject")


@_check(
    "grpc.execute.decimal_string", 'adjust_wallet with amount "2.50" (a Decimal string), then 1.5'
)
async def decimal_string(target: Target) -> None:
    response = await _execute(
        target, "adjust_wallet", model="users", ids=[1], inputs={"amount": "2.50"}
    )
    html = spec.wallet_updated(spec.user(1))
    expect_result('adjust_wallet ids=[1] amount="2.50"', response, html=html)
    response = await _execute(
        target, "adjust_wallet", model="users", ids=["3"], inputs={"amount": 1.5}
    )
    html = spec.wallet_updated(spec.user(3))
    expect_result('adjust_wallet ids=["3"] amount=1.5', response, html=html)


@_check("grpc.execute.not_positive", "adjust_wallet with amount <= 0: the field error on amount")
async def not_positive(target: Target) -> None:
    for amount in ("-5", "0", -0.01):
        response = await _execute(
            target, "adjust_wallet", model="users", ids=[1], inputs={"amount": amount}
        )
        expected = {"amount": [spec.AMOUNT_ERROR]}
        expect_errors(f"adjust_wallet amount={amount!r}", response, exactly=expected)


@_check("grpc.execute.not_a_number", 'adjust_wallet with amount "ten": a field error on amount')
async def not_a_number(target: Target) -> None:
    response = await _execute(
        target, "adjust_wallet", model="users", ids=[1], inputs={"amount": "ten"}
    )
    expect_errors('adjust_wallet amount="ten"', response, on="amount")


@_check("grpc.execute.file", "export_users: users.csv, text/csv, one line per user")
async def export_file(target: Target) -> None:
    response = await _execute(target, "export_users", model="users")
    expected = f"file({spec.EXPORT_FILENAME!r}, {spec.EXPORT_CONTENT_TYPE!r}, exact content)"
    if response.WhichOneof("outcome") != "file":
        raise CheckFailed(expected, describe(response))
    file = response.file
    expect("filename", spec.EXPORT_FILENAME, file.filename)
    expect("content_type", spec.EXPORT_CONTENT_TYPE, file.content_type)
    expect("content", spec.export_csv(), file.content)


@_check("grpc.execute.select_options", "ship_order names carrier and city by their option names")
async def ship_order(target: Target) -> None:
    dhl, ups = spec.CARRIERS
    leeds, rome = spec.CITIES["uk"][1], spec.CITIES["italy"][0]
    for order_id, carrier, country, city in ((42, dhl, "uk", leeds), ("A-7", ups, "italy", rome)):
        inputs = {"carrier": carrier.value, "country": country, "city": city.value}
        response = await _execute(
            target, "ship_order", model="orders", ids=[order_id], inputs=inputs
        )
        message = spec.shipped(order_id, carrier, city)
        expect_result(f"ship_order ids=[{order_id!r}] {inputs}", response, message=message)


@_check("grpc.execute.invalid_choice", 'ship_order with carrier "fedex": a field error on carrier')
async def invalid_choice(target: Target) -> None:
    inputs = {"carrier": "fedex", "country": "uk", "city": "leeds"}
    response = await _execute(target, "ship_order", model="orders", ids=[42], inputs=inputs)
    expect_errors(f"ship_order {inputs}", response, on="carrier")


@_check("grpc.execute.common", "refresh_stats (common action, no model): result true")
async def common(target: Target) -> None:
    response = await _execute(target, "refresh_stats")
    expect_result("refresh_stats", response)


@_check("grpc.execute.unknown_action", "ExecuteAction of an undeclared action: NOT_FOUND")
async def unknown_action(target: Target) -> None:
    name = _shop(target).action("no_such_action")
    request = actions_pb2.ExecuteActionRequest(action=name, model=_shop(target).model("users"))
    try:
        response = await target.stub.ExecuteAction(request, timeout=CALL_TIMEOUT)
    except grpc.aio.AioRpcError as error:
        expect(f"status of ExecuteAction({name!r})", "NOT_FOUND", error.code().name)
        return
    raise CheckFailed("gRPC status NOT_FOUND", f"OK with {describe(response)}")


# GetFieldOptions ---------------------------------------------------------------------------


async def _field_options(target: Target, country: str) -> None:
    request = actions_pb2.GetFieldOptionsRequest(model=_shop(target).model("orders"), field="city")
    fill_struct(request.form, {"country": country, "carrier": "dhl"})
    response = await target.stub.GetFieldOptions(request, timeout=CALL_TIMEOUT)
    expected = [o.as_json() for o in spec.CITIES.get(country, ())]
    expect(
        f"options of (orders, city) for country={country!r}",
        expected,
        [option_json(o) for o in response.options],
    )


@_check("grpc.field_options.italy", "GetFieldOptions (orders, city) with country italy")
async def options_italy(target: Target) -> None:
    await _field_options(target, "italy")


@_check("grpc.field_options.uk", "GetFieldOptions (orders, city) with country uk")
async def options_uk(target: Target) -> None:
    await _field_options(target, "uk")


@_check("grpc.field_options.other", "GetFieldOptions (orders, city) with another country: []")
async def options_other(target: Target) -> None:
    await _field_options(target, "france")


# Deadlines ---------------------------------------------------------------------------------


@_check(
    "grpc.deadline.passed",
    "a deadline that passes before the request arrives (100 ms, message after 300 ms)",
)
async def deadline_passed(target: Target) -> str:
    return passed_deadline_verdict(
        *await delayed_call(target, _request(target, "refresh_stats"), "100m")
    )


@_check("grpc.deadline.ample", "an ample deadline (10 s, message after 300 ms) completes")
async def deadline_ample(target: Target) -> None:
    status, what, _ = await delayed_call(target, _request(target, "refresh_stats"), "10S")
    if status != "OK":
        raise CheckFailed("OK: result(value true or unset)", f"{status}: {what}")


TINY_DEADLINES = (0.001, 0.05)
"""Client deadlines of grpc.deadline.tiny, in seconds; each is tried three times."""


@_check("grpc.deadline.tiny", "calls with 1 ms and 50 ms deadlines: DEADLINE_EXCEEDED or complete")
async def deadline_tiny(target: Target) -> str:
    request = _request(target, "mail_users", model="users", ids=[1], inputs=_mail())
    seen: Counter[str] = Counter()
    for timeout in TINY_DEADLINES * 3:
        call = f"mail_users ids=[1] with a {timeout * 1000:.0f} ms deadline"
        try:
            response = await target.stub.ExecuteAction(request, timeout=timeout)
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
                raise CheckFailed(
                    f"{call} -> DEADLINE_EXCEEDED or the result",
                    f"{error.code().name}: {error.details()}",
                ) from None
            seen[error.code().name] += 1
            continue
        expect_result(call, response, message=spec.mailed(1))
        seen["completed"] += 1
    return ", ".join(f"{count} {what}" for what, count in sorted(seen.items()))


@_check(
    "grpc.deadline.still_serving", "after expired calls the server still answers and is SERVING"
)
async def still_serving(target: Target) -> None:
    response = await _execute(target, "mail_users", model="users", ids=[2], inputs=_mail())
    expect_result("mail_users ids=[2]", response, message=spec.mailed(1))
    stub = health_pb2_grpc.HealthStub(target.channel)
    reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=CALL_TIMEOUT)
    expect(
        'Check("").status',
        "SERVING",
        health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status),
    )


def _mail(**inputs: Any) -> dict[str, Any]:
    return {"subject": "Hello", **inputs}
