"""The grpc.aio ActionService implementation behind ``ActionServer`` and ``ActionTester``."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor
from typing import Any, NoReturn, Protocol

import grpc

from jetactions import _convert, _inputs
from jetactions.action import ActionRegistry
from jetactions.context import ActionContext, Caller, FieldContext, _current
from jetactions.errors import NON_FIELD_ERRORS, ActionError, FieldErrors
from jetactions.results import File, Option, Result
from jetactions.v1 import actions_pb2, actions_pb2_grpc

logger = logging.getLogger("jetactions")

SERVICE_NAME: str = actions_pb2.DESCRIPTOR.services_by_name["ActionService"].full_name
BRIDGE_SECRET_HEADER = "x-jetbridge-secret"

AUTH_METHODS: dict[actions_pb2.AuthMethod.ValueType, str] = {
    actions_pb2.AUTH_METHOD_UNSPECIFIED: "",
    actions_pb2.AUTH_METHOD_JWT: "jwt",
    actions_pb2.AUTH_METHOD_USER_TOKEN: "user_token",
    actions_pb2.AUTH_METHOD_PROJECT_TOKEN: "project_token",
    actions_pb2.AUTH_METHOD_BEARER: "bearer",
}


class CallContext(Protocol):
    """The part of ``grpc.aio.ServicerContext`` the servicer uses.

    Narrow on purpose: ``ActionTester`` passes a small in-process stand-in.
    """

    async def abort(self, code: grpc.StatusCode, details: str = ...) -> NoReturn:
        """Ends the call with a status."""

    def time_remaining(self) -> float | None:
        """Seconds before the client's deadline, or None."""

    def invocation_metadata(self) -> Iterable[tuple[str, str | bytes]] | None:
        """The client's metadata."""


class ActionServicer(actions_pb2_grpc.ActionServiceServicer):
    """Serves one registry's actions.

    The registry is read once, here: ListActions' response is built and cached, and later
    registrations are not seen (``ActionServer`` freezes the registry when it starts).

    Args:
        registry: The actions and field options handlers.
        executor: Where sync handlers run; None means the event loop's default executor.
    """

    def __init__(self, registry: ActionRegistry, *, executor: Executor | None = None) -> None:
        self._actions = dict(registry.actions)
        self._field_options = dict(registry.field_option_sources)
        self._executor = executor
        self._listing = actions_pb2.ListActionsResponse(
            actions=[definition.to_proto() for definition in self._actions.values()],
            field_options=[
                actions_pb2.FieldRef(model=model, field=field)
                for model, field in self._field_options
            ],
        )

    async def ListActions(
        self, request: actions_pb2.ListActionsRequest, context: CallContext
    ) -> actions_pb2.ListActionsResponse:
        """Returns the cached description of every action and field options source."""
        return self._listing

    async def ExecuteAction(
        self, request: actions_pb2.ExecuteActionRequest, context: CallContext
    ) -> actions_pb2.ExecuteActionResponse:
        """Validates the inputs, runs the action and maps its outcome."""
        definition = self._actions.get(request.action)
        if definition is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"unknown action {request.action!r}")
        deadline = _deadline(context)
        ids: list[int | float | str] = []
        for value in request.ids:
            item = _convert.from_value(value)
            if isinstance(item, bool) or not isinstance(item, int | float | str):
                await context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT, "ids must be numbers or strings"
                )
            ids.append(item)
        inputs = _convert.from_struct(request.inputs)
        arguments, errors = _inputs.validate(definition.rules, inputs)
        if errors:
            # The handler never sees inputs it could not trust.
            return _errors_response(errors)
        ctx = ActionContext(
            action=definition.name,
            model=request.model,
            ids=ids,
            inverse_ids=request.inverse_ids,
            inputs=inputs,
            params=_convert.from_struct(request.message_params),
            caller=_caller(request),
            metadata=_metadata(context),
            deadline=deadline,
        )
        failure: tuple[grpc.StatusCode, str]
        try:
            value = await self._call(definition.handler, definition.is_async, ctx, arguments)
            return _outcome(value)
        except FieldErrors as error:
            return _errors_response(error.as_dict())
        except ActionError as error:
            failure = (error.code, error.message)
        except Exception:
            # The traceback stays in the server's log: it may hold data the caller must not see.
            logger.exception("action %r failed", definition.name)
            failure = (grpc.StatusCode.INTERNAL, f"action {definition.name} failed")
        # Outside the try: abort raises, and that must not be caught as a handler failure.
        return await context.abort(*failure)

    async def GetFieldOptions(
        self, request: actions_pb2.GetFieldOptionsRequest, context: CallContext
    ) -> actions_pb2.GetFieldOptionsResponse:
        """Runs the field options handler of (model, field)."""
        key = (request.model, request.field)
        definition = self._field_options.get(key)
        if definition is None:
            await context.abort(
                grpc.StatusCode.NOT_FOUND,
                f"no field options for model {request.model!r} field {request.field!r}",
            )
        ctx = FieldContext(
            model=request.model,
            field=request.field,
            form=_convert.from_struct(request.form),
            params=_convert.from_struct(request.message_params),
            caller=_caller(request),
            metadata=_metadata(context),
            deadline=_deadline(context),
        )
        failure: tuple[grpc.StatusCode, str]
        try:
            value = await self._call(definition.handler, definition.is_async, ctx, {})
            return actions_pb2.GetFieldOptionsResponse(options=_options(value))
        except ActionError as error:
            failure = (error.code, error.message)
        except Exception:
            logger.exception("field options of %r.%r failed", request.model, request.field)
            failure = (
                grpc.StatusCode.INTERNAL,
                f"field options {request.model}.{request.field} failed",
            )
        return await context.abort(*failure)

    async def _call(
        self,
        handler: Callable[..., Any],
        is_async: bool,
        ctx: ActionContext | FieldContext,
        arguments: Mapping[str, Any],
    ) -> Any:
        token = _current.set(ctx)
        try:
            if is_async:
                result = await handler(ctx, **arguments)
            else:
                # A sync handler blocks, so it runs in a worker thread; the copied context
                # carries `current()` (and any other contextvar) into that thread.
                call = functools.partial(contextvars.copy_context().run, handler, ctx, **arguments)
                result = await asyncio.get_running_loop().run_in_executor(self._executor, call)
            if inspect.isawaitable(result):
                # A plain function that returns a coroutine (a lambda or a wrapper).
                result = await result
            return result
        finally:
            _current.reset(token)


def _deadline(context: CallContext) -> float | None:
    # Anchored to the monotonic clock once, so ctx.time_remaining() works from any thread.
    remaining = context.time_remaining()
    return None if remaining is None else time.monotonic() + remaining


def _metadata(context: CallContext) -> dict[str, str | bytes]:
    metadata: dict[str, str | bytes] = {}
    for key, value in context.invocation_metadata() or ():
        # Handlers may log their metadata; the bridge secret must never reach a log.
        if key != BRIDGE_SECRET_HEADER:
            metadata.setdefault(key, value)
    return metadata


def _caller(
    request: actions_pb2.ExecuteActionRequest | actions_pb2.GetFieldOptionsRequest,
) -> Caller | None:
    if not request.HasField("caller"):
        return None
    caller = request.caller
    return Caller(
        auth_method=AUTH_METHODS.get(caller.auth_method, ""),
        user_id=caller.user_id,
        user_email=caller.user_email,
        project=caller.project,
        environment=caller.environment,
        token=caller.token,
        claims=_convert.from_struct(caller.claims),
    )


def caller_to_proto(caller: Caller) -> actions_pb2.Caller:
    """Builds the proto Caller (``ActionTester`` plays the bridge with it)."""
    methods = {name: number for number, name in AUTH_METHODS.items()}
    if caller.auth_method not in methods:
        raise ValueError(f"unknown auth method {caller.auth_method!r}")
    message = actions_pb2.Caller(
        auth_method=methods[caller.auth_method],
        user_id=caller.user_id,
        user_email=caller.user_email,
        project=caller.project,
        environment=caller.environment,
        token=caller.token,
    )
    _convert.fill_struct(message.claims, caller.claims)
    return message


def _errors_response(errors: Mapping[str, list[str]]) -> actions_pb2.ExecuteActionResponse:
    response = actions_pb2.ExecuteActionResponse()
    response.errors.SetInParent()
    for name, messages in errors.items():
        if name == NON_FIELD_ERRORS:
            response.errors.non_field_errors.extend(messages)
        else:
            response.errors.fields[name].messages.extend(messages)
    return response


def _outcome(value: object) -> actions_pb2.ExecuteActionResponse:
    """Maps a handler's return value to the response (see ``jetactions.results``)."""
    if isinstance(value, File):
        return actions_pb2.ExecuteActionResponse(
            file=actions_pb2.File(
                filename=value.filename, content_type=value.content_type, content=value.content
            )
        )
    if value is None:
        value = Result()
    elif isinstance(value, Mapping):
        rest = dict(value)
        message, html = rest.pop("message", None), rest.pop("html", None)
        value = Result(
            value=rest.pop("result", True),
            message=None if message is None else str(message),
            html=None if html is None else str(html),
            extra=rest,
        )
    elif not isinstance(value, Result):
        value = Result(value=value)
    response = actions_pb2.ExecuteActionResponse()
    result = response.result
    _convert.fill_value(result.value, value.value)
    if value.message is not None:
        result.message = value.message
    if value.html is not None:
        result.html = value.html
    if value.extra:
        _convert.fill_struct(result.extra, value.extra)
    return response


def _options(value: object) -> list[actions_pb2.Option]:
    """Maps a field options handler's return value to proto options."""
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        raise TypeError(f"field options must be a list, not {type(value).__name__}")
    options = []
    for item in value:
        if isinstance(item, Mapping):
            if "value" not in item:
                raise TypeError(f"field option {item!r} has no 'value'")
            item = Option(
                value=item["value"],
                name=str(item.get("name", item["value"])),
                color=str(item.get("color") or ""),
            )
        if not isinstance(item, Option):
            raise TypeError(f"field options must be Option or dict, not {type(item).__name__}")
        option = actions_pb2.Option(name=item.name, color=item.color)
        _convert.fill_value(option.value, item.value)
        options.append(option)
    return options
