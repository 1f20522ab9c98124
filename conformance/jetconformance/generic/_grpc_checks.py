"""The generic checks that call the server directly over gRPC.

They know nothing of the server in advance: every expectation follows from the contract
(actions.proto) and from what the server declares in ListActions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2

from jetactions.contract import HEALTH_SERVICES, SECRET_METADATA, SERVICE_NAME
from jetactions.v1 import actions_pb2, actions_pb2_grpc
from jetbridge.convert import fill_struct, from_struct, from_value
from jetconformance._calls import (
    delayed_call,
    describe,
    errors_of,
    execute_request,
    list_actions,
    passed_deadline_verdict,
)
from jetconformance._registry import Check, CheckFunction, check
from jetconformance._target import (
    CALL_TIMEOUT,
    CheckFailed,
    CheckSkipped,
    Failures,
    Target,
    channel_options,
    expect,
)
from jetconformance.generic import _listing
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
    return check("generic", "grpc", check_id, title)


# Helpers --------------------------------------------------------------------------------------


def options_of(target: Target) -> OptionsOf:
    """GetFieldOptions as the input maker asks it: the values of the options offered."""

    async def ask(model: str, field: str, form: dict[str, Any]) -> list[Any]:
        request = actions_pb2.GetFieldOptionsRequest(model=model, field=field)
        fill_struct(request.form, form)
        response = await target.stub.GetFieldOptions(request, timeout=CALL_TIMEOUT)
        return [from_value(option.value) for option in response.options]

    return ask


async def well_typed_request(
    target: Target, action: actions_pb2.Action, inputs: dict[str, Any] | None = None
) -> actions_pb2.ExecuteActionRequest:
    """The call of `action` with valid inputs (or `inputs`), its model and an id if it needs."""
    if inputs is None:
        inputs = await valid_inputs(action, options_of(target))
    return execute_request(action.name, model=model_of(action), ids=ids_for(action), inputs=inputs)


async def _call(
    target: Target, request: actions_pb2.ExecuteActionRequest
) -> actions_pb2.ExecuteActionResponse:
    """ExecuteAction; a gRPC error fails the check, an INTERNAL one as a crash."""
    call = f"{request.action} with {describe_inputs(request)}"
    try:
        return await target.stub.ExecuteAction(request, timeout=CALL_TIMEOUT)
    except grpc.aio.AioRpcError as error:
        crashed = error.code() in {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}
        hint = "a crash" if crashed else "--exclude it if it must fail"
        raise CheckFailed(
            f"{call} -> an outcome (result, errors or file)",
            f"gRPC {error.code().name}: {error.details()} ({hint})",
        ) from None


def describe_inputs(request: actions_pb2.ExecuteActionRequest) -> str:
    """The inputs of a call, short."""
    text = repr(from_struct(request.inputs))
    return f"inputs {text[:150]}{'...' if len(text) > 150 else ''}"


def _skipped_note(target: Target, listing: actions_pb2.ListActionsResponse) -> str:
    declared = {action.name for action in listing.actions}
    excluded = sorted(target.exclude & declared)
    unknown = sorted(target.exclude - declared)
    parts = [f"excluded {', '.join(excluded)}"] if excluded else []
    parts += [f"--exclude names no action: {', '.join(unknown)}"] if unknown else []
    return "; ".join(parts)


def _join(*parts: str) -> str:
    return "; ".join(part for part in parts if part)


# Health and reflection -----------------------------------------------------------------------


@_check("grpc.health", f'grpc.health.v1 Check("") and Check("{SERVICE_NAME}"): SERVING')
async def health(target: Target) -> None:
    stub = health_pb2_grpc.HealthStub(target.channel)
    for service in HEALTH_SERVICES:
        reply = await stub.Check(
            health_pb2.HealthCheckRequest(service=service), timeout=CALL_TIMEOUT
        )
        status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
        expect(f"Check({service!r}).status", "SERVING", status)


REFLECTION_VERSIONS = ("v1", "v1alpha")
"""Server reflection, newest first. Their messages are the same on the wire."""


async def _reflected_services(target: Target, version: str) -> list[str] | None:
    """The services reflection `version` lists; None when the server does not serve it."""
    # ServerReflectionInfo is a bidi stream; called as unary-stream, the request and the
    # half-close leave with the headers, so a server that ends the call at once (UNIMPLEMENTED)
    # does not race the client's write.
    call = target.channel.unary_stream(
        f"/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )(reflection_pb2.ServerReflectionRequest(list_services=""), timeout=CALL_TIMEOUT)
    try:
        response = await call.read()
    except grpc.aio.AioRpcError as error:
        if error.code() == grpc.StatusCode.UNIMPLEMENTED:
            return None
        raise
    finally:
        call.cancel()
    if not isinstance(response, reflection_pb2.ServerReflectionResponse):
        code = await call.code()
        if code == grpc.StatusCode.UNIMPLEMENTED:
            return None
        raise CheckFailed(f"grpc.reflection.{version}: a list_services answer", f"{code.name}")
    return [service.name for service in response.list_services_response.service]


@_check("grpc.reflection", f"server reflection (v1, else v1alpha) lists {SERVICE_NAME}")
async def reflection(target: Target) -> str:
    for version in REFLECTION_VERSIONS:
        services = await _reflected_services(target, version)
        if services is None:
            continue
        if SERVICE_NAME not in services:
            raise CheckFailed(f"{SERVICE_NAME} among the services ({version})", f"{services}")
        return f"grpc.reflection.{version}" + (" (no v1)" if version != "v1" else "")
    raise CheckFailed("grpc.reflection.v1 or v1alpha served", "UNIMPLEMENTED for both")


# ListActions -------------------------------------------------------------------------------


Rule = Callable[[actions_pb2.ListActionsResponse], list[str]]


async def _valid_listing(target: Target, rule: Rule, what: str) -> actions_pb2.ListActionsResponse:
    listing = await list_actions(target)
    problems = rule(listing)
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise CheckFailed(what, "; ".join(problems[:3]) + more)
    return listing


@_check("grpc.list.names", "ListActions declares actions, each with a name of its own")
async def list_names(target: Target) -> str:
    listing = await _valid_listing(target, _listing.name_problems, "named actions, no name twice")
    return f"{len(listing.actions)} actions, {len(listing.field_options)} field-option sources"


@_check("grpc.list.kinds", "each action is a model action (with models) or a common action")
async def list_kinds(target: Target) -> None:
    await _valid_listing(target, _listing.kind_problems, "exactly one kind per action")


@_check(
    "grpc.list.params",
    "params: names, known field types, options for selects, related_model for foreign keys",
)
async def list_params(target: Target) -> None:
    await _valid_listing(target, _listing.param_problems, "well-formed params")


@_check(
    "grpc.list.field_options",
    "every options_from_server param has its field_options source (model, name)",
)
async def list_field_options(target: Target) -> None:
    await _valid_listing(target, _listing.source_problems, "a source for every dynamic select")


@_check("grpc.list.server_name", "server_name, when declared: letters, digits, _ . -")
async def list_server_name(target: Target) -> str:
    listing = await _valid_listing(target, _listing.server_name_problems, "a valid server_name")
    return repr(listing.server_name) if listing.server_name else "none declared"


# ExecuteAction -------------------------------------------------------------------------------


@_check("grpc.execute.well_typed", "every action, called with valid inputs: an outcome")
async def well_typed(target: Target) -> str:
    listing = await list_actions(target)
    seen: Counter[str] = Counter()
    failures = Failures()
    for action in runnable(listing, target.exclude):
        with failures.of(action.name):
            request = await well_typed_request(target, action)
            response = await _call(target, request)
            outcome = response.WhichOneof("outcome")
            if outcome is None:
                raise CheckFailed(
                    f"{action.name} with {describe_inputs(request)} -> result, errors or file",
                    describe(response),
                )
            seen[outcome] += 1
    failures.raise_any()
    counts = ", ".join(f"{n} {what}" for what, n in sorted(seen.items()))
    return _join(counts or "no action run", _skipped_note(target, listing))


async def _expect_field_error(
    target: Target, request: actions_pb2.ExecuteActionRequest, field: str, why: str
) -> None:
    response = await _call(target, request)
    expected = f"{request.action} with {field} {why} -> errors with a message on {field!r}"
    if response.WhichOneof("outcome") != "errors":
        raise CheckFailed(expected, describe(response))
    if not errors_of(response.errors).get(field):
        raise CheckFailed(expected, describe(response))


@_check("grpc.execute.ill_typed", "an input of the wrong type: a field error on it")
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
            request = await well_typed_request(target, action, inputs)
            why = f"= {wrong.value!r} ({wrong.why})"
            await _expect_field_error(target, request, wrong.name, why)
    failures.raise_any()
    if not checked:
        raise CheckSkipped("no action has an input with a checkable type")
    return ", ".join(checked)


@_check("grpc.execute.missing_required", "a required input left out: a field error on it")
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
            request = await well_typed_request(target, action, inputs)
            await _expect_field_error(target, request, param.name, "left out")
    failures.raise_any()
    if not checked:
        raise CheckSkipped("no action has a required input")
    return ", ".join(checked)


@_check("grpc.execute.unknown_action", "ExecuteAction of an undeclared action: NOT_FOUND")
async def unknown_action(target: Target) -> None:
    name = unknown_action_name(await list_actions(target))
    request = execute_request(name)
    try:
        response = await target.stub.ExecuteAction(request, timeout=CALL_TIMEOUT)
    except grpc.aio.AioRpcError as error:
        expect(f"status of ExecuteAction({name!r})", "NOT_FOUND", error.code().name)
        return
    raise CheckFailed("gRPC status NOT_FOUND", f"OK with {describe(response)}")


# GetFieldOptions ---------------------------------------------------------------------------


@_check("grpc.field_options", "every field_options source answers with well-formed options")
async def field_options(target: Target) -> str:
    listing = await list_actions(target)
    if not listing.field_options:
        raise CheckSkipped("no field_options declared")
    counts = []
    for ref in listing.field_options:
        request = actions_pb2.GetFieldOptionsRequest(model=ref.model, field=ref.field)
        request.form.SetInParent()
        call = f"GetFieldOptions({ref.model!r}, {ref.field!r})"
        try:
            response = await target.stub.GetFieldOptions(request, timeout=CALL_TIMEOUT)
        except grpc.aio.AioRpcError as error:
            raise CheckFailed(
                f"{call} with an empty form -> options", f"gRPC {error.code().name}"
            ) from None
        for index, option in enumerate(response.options):
            if option.value.WhichOneof("kind") is None or not option.name:
                raise CheckFailed(f"{call}: options with a value and a name", f"#{index} {option}")
        counts.append(f"{ref.model or '(common)'}.{ref.field}: {len(response.options)}")
    return ", ".join(counts)


# Deadlines ---------------------------------------------------------------------------------


async def _probe_request(target: Target) -> actions_pb2.ExecuteActionRequest:
    listing = await list_actions(target)
    actions = runnable(listing, target.exclude)
    if not actions:
        raise CheckSkipped("every action is excluded")
    return await well_typed_request(target, actions[0])


@_check(
    "grpc.deadline.passed",
    "a deadline that passes before the request arrives (100 ms, message after 300 ms): refused",
)
async def deadline_passed(target: Target) -> str:
    request = await _probe_request(target)
    return passed_deadline_verdict(*await delayed_call(target, request, "100m"))


@_check("grpc.deadline.ample", "an ample deadline (10 s, message after 300 ms): an outcome")
async def deadline_ample(target: Target) -> None:
    request = await _probe_request(target)
    status, what, _ = await delayed_call(target, request, "10S")
    if status != "OK" or what == "no outcome set":
        raise CheckFailed(f"{request.action} -> OK with an outcome", f"{status}: {what}")


# The shared secret ---------------------------------------------------------------------------


@_check("grpc.secret", "with a secret configured, calls without it or with a wrong one are refused")
async def secret(target: Target) -> str:
    if not target.secret:
        raise CheckSkipped("no secret given (--secret or JETBRIDGE_SECRET)")
    listing = await list_actions(target)  # with the secret: the server accepts it
    calls: list[tuple[str, Callable[[actions_pb2_grpc.ActionServiceStub, Any], Any]]] = [
        ("ListActions", lambda s, m: s.ListActions(actions_pb2.ListActionsRequest(), **m)),
        (
            "ExecuteAction",
            lambda s, m: s.ExecuteAction(execute_request(unknown_action_name(listing)), **m),
        ),
        (
            "GetFieldOptions",
            lambda s, m: s.GetFieldOptions(actions_pb2.GetFieldOptionsRequest(), **m),
        ),
    ]
    # A channel of its own: the run's channel adds the secret to every call.
    async with grpc.aio.insecure_channel(target.address, options=channel_options()) as channel:
        stub = actions_pb2_grpc.ActionServiceStub(channel)
        for given, metadata in (
            ("without the secret", ()),
            ("with a wrong secret", ((SECRET_METADATA, target.secret + "-wrong"),)),
        ):
            for method, send in calls:
                try:
                    await send(stub, {"timeout": CALL_TIMEOUT, "metadata": metadata})
                except grpc.aio.AioRpcError as error:
                    expect(f"{method} {given}", "UNAUTHENTICATED", error.code().name)
                    continue
                raise CheckFailed(f"{method} {given} -> UNAUTHENTICATED", "OK")
    return "ListActions, ExecuteAction and GetFieldOptions refused without it"
