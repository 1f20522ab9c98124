"""The grpc.aio ActionService implementation behind ``ActionServer`` and ``InProcessChannel``.

How a call ends, besides its outcome (the documented status table of the SDK):

| what happened | status |
|---|---|
| no such action / field options source | NOT_FOUND |
| the handler raised ``ActionError`` | its code |
| the action ran past its declared ``timeout=`` | DEADLINE_EXCEEDED |
| every sync worker is busy (see ``jetactions.sync_pool``) | RESOURCE_EXHAUSTED |
| the answer is larger than the server's send limit | RESOURCE_EXHAUSTED |
| any other failure of the action server itself | INTERNAL |

"Any other failure" is a handler that raised (details: ``action NAME failed``; the traceback
stays in the server's log) or one that returned a value that cannot be sent, such as NaN, a
set, an object or nesting too deep (details name the cause and where it sits:
``action 'x' returned a value that cannot be sent: nan is not a JSON number at result.a.b``).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NoReturn, Protocol

import grpc
from google.protobuf import struct_pb2

from jetactions import _convert, _inputs
from jetactions._convert import UnsendableValue
from jetactions.action import ActionDefinition, ActionRegistry
from jetactions.context import ActionContext, Caller, FieldContext, _current
from jetactions.contract import SECRET_METADATA
from jetactions.errors import NON_FIELD_ERRORS, ActionError, FieldErrors
from jetactions.results import File, Option, Result
from jetactions.sync_pool import PoolExhausted, SyncPool
from jetactions.v1 import actions_pb2, actions_pb2_grpc

logger = logging.getLogger("jetactions")

# Caller.method: the AuthMethod's own name, lower-case and without its prefix ("jwt",
# "user_token", ...); empty when the bridge did not authenticate.
AUTH_METHODS: dict[actions_pb2.AuthMethod.ValueType, str] = {
    number: name.removeprefix("AUTH_METHOD_").lower()
    for name, number in actions_pb2.AuthMethod.items()
} | {actions_pb2.AUTH_METHOD_UNSPECIFIED: ""}


class CallContext(Protocol):
    """The part of ``grpc.aio.ServicerContext`` the servicer uses.

    Narrow on purpose: ``jetactions.inprocess`` implements it without a network.
    """

    async def abort(self, code: grpc.StatusCode, details: str = ...) -> NoReturn:
        """Ends the call with a status."""

    def time_remaining(self) -> float | None:
        """Seconds before the client's deadline, or None."""

    def invocation_metadata(self) -> Iterable[tuple[str, str | bytes]] | None:
        """The client's metadata."""


class _TimedOut(Exception):
    """The action ran past its own declared timeout."""


class ActionServicer(actions_pb2_grpc.ActionServiceServicer):
    """Serves one registry's actions.

    The registry is read once, here: ListActions' response is built and cached, and later
    registrations are not seen (``ActionServer`` freezes the registry when it starts).

    Args:
        registry: The actions and field options handlers.
        server_name: The server's declared name, sent in ListActions.
        sync_pool: Where sync handlers run; a pool of its own by default.
        max_message_bytes: The server's send limit; a larger answer ends the call with
            RESOURCE_EXHAUSTED naming it. None checks nothing.
    """

    def __init__(
        self,
        registry: ActionRegistry,
        *,
        server_name: str = "",
        sync_pool: SyncPool | None = None,
        max_message_bytes: int | None = None,
    ) -> None:
        self._actions = dict(registry.actions)
        self._what = {name: f"action {name!r}" for name in self._actions}  # for messages
        self._field_options = dict(registry.field_option_sources)
        self._pool = sync_pool if sync_pool is not None else SyncPool(name=server_name)
        self._max_bytes = max_message_bytes
        self._listing = actions_pb2.ListActionsResponse(
            actions=[definition.to_proto() for definition in self._actions.values()],
            field_options=[
                actions_pb2.FieldRef(model=model, field=field)
                for model, field in self._field_options
            ],
            server_name=server_name,
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
        # The action's declared timeout bounds the run whatever deadline the caller chose.
        own_timeout = definition.timeout
        if own_timeout is not None:
            own_deadline = time.monotonic() + own_timeout
            if deadline is not None and deadline <= own_deadline:
                own_timeout = None  # the caller gives up first: its deadline rules
            else:
                deadline = own_deadline
        ids = _ids(request.ids)
        if ids is None:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "ids must be numbers or strings")
        inputs = _convert.from_struct(request.inputs)
        arguments, errors = _inputs.validate(definition.rules, inputs)
        if errors:
            # The handler never sees inputs it could not trust.
            return _errors_response(errors)
        # `params` and `metadata` are converted when the handler first reads them (see
        # jetactions.context): most handlers read neither.
        ctx = ActionContext._prefilled(
            {
                "action": definition.name,
                "model": request.model,
                "ids": ids,
                "inverse_ids": request.inverse_ids,
                "inputs": inputs,
                "caller": _caller(request),
                "deadline": deadline,
            },
            {
                "params": functools.partial(_convert.from_struct, request.message_params),
                "metadata": functools.partial(_metadata, context),
            },
        )
        what = self._what[definition.name]
        failure: tuple[grpc.StatusCode, str]
        try:
            if own_timeout is None:
                value = await self._call(
                    definition.handler, definition.is_async, ctx, arguments, what
                )
            else:
                value = await self._call_within(own_timeout, definition, ctx, arguments, what)
            response = _outcome(value)
        except FieldErrors as error:
            return _errors_response(error.as_dict())
        except ActionError as error:
            failure = (error.code, error.message)
        except _TimedOut:
            failure = (
                grpc.StatusCode.DEADLINE_EXCEEDED,
                f"{what} did not finish within its timeout of {definition.timeout:g} s",
            )
        except PoolExhausted as error:
            failure = (grpc.StatusCode.RESOURCE_EXHAUSTED, str(error))
        except UnsendableValue as error:
            failure = _unsendable(what, error)
        except Exception:
            # The traceback stays in the server's log: it may hold data the caller must not see.
            logger.exception("action %r failed", definition.name)
            failure = (grpc.StatusCode.INTERNAL, f"action {definition.name} failed")
        else:
            too_large = self._too_large(what, response)
            if too_large is None:
                return response
            failure = too_large
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
        ctx = FieldContext._prefilled(
            {
                "model": request.model,
                "field": request.field,
                "form": _convert.from_struct(request.form),
                "caller": _caller(request),
                "deadline": _deadline(context),
            },
            {
                "params": functools.partial(_convert.from_struct, request.message_params),
                "metadata": functools.partial(_metadata, context),
            },
        )
        what = f"field options {request.model}.{request.field}"
        failure: tuple[grpc.StatusCode, str]
        try:
            value = await self._call(definition.handler, definition.is_async, ctx, {}, what)
            response = actions_pb2.GetFieldOptionsResponse(options=_options(value))
        except ActionError as error:
            failure = (error.code, error.message)
        except PoolExhausted as error:
            failure = (grpc.StatusCode.RESOURCE_EXHAUSTED, str(error))
        except UnsendableValue as error:
            failure = _unsendable(what, error)
        except Exception:
            logger.exception("field options of %r.%r failed", request.model, request.field)
            failure = (grpc.StatusCode.INTERNAL, f"{what} failed")
        else:
            too_large = self._too_large(what, response)
            if too_large is None:
                return response
            failure = too_large
        return await context.abort(*failure)

    async def _call_within(
        self,
        timeout: float,  # noqa: ASYNC109 - the action's own timeout, not the caller's
        definition: ActionDefinition,
        ctx: ActionContext,
        arguments: Mapping[str, Any],
        what: str,
    ) -> Any:
        scope = asyncio.timeout(timeout)
        try:
            async with scope:
                return await self._call(
                    definition.handler, definition.is_async, ctx, arguments, what
                )
        except TimeoutError:
            if scope.expired():
                raise _TimedOut from None
            raise  # the handler's own TimeoutError: a failure like any other

    async def _call(
        self,
        handler: Callable[..., Any],
        is_async: bool,
        ctx: ActionContext | FieldContext,
        arguments: Mapping[str, Any],
        what: str,
    ) -> Any:
        token = _current.set(ctx)
        try:
            if is_async:
                result = await handler(ctx, **arguments)
            else:
                # A sync handler blocks, so it runs in a worker thread; the copied context
                # carries `current()` (and any other contextvar) into that thread.
                call = functools.partial(contextvars.copy_context().run, handler, ctx, **arguments)
                result = await self._pool.run(call, what)
            # A plain function that returns a coroutine (a lambda or a wrapper); the usual
            # answers are checked by type, isawaitable's ABC check costs more.
            if type(result) not in _PLAIN_ANSWERS and inspect.isawaitable(result):
                result = await result
            return result
        finally:
            _current.reset(token)

    def _too_large(
        self,
        what: str,
        response: actions_pb2.ExecuteActionResponse | actions_pb2.GetFieldOptionsResponse,
    ) -> tuple[grpc.StatusCode, str] | None:
        """The failure of an answer over the send limit, or None when it fits.

        Checked here because gRPC itself would only reset the stream, and the caller would
        see no reason at all.
        """
        if self._max_bytes is None:
            return None
        if isinstance(response, actions_pb2.ExecuteActionResponse) and response.HasField("file"):
            file = response.file
            # Measuring a file means encoding it: skip that when it fits with room to spare.
            if len(file.content) + 4 * (len(file.filename) + len(file.content_type)) + 64 <= (
                self._max_bytes
            ):
                return None
        size = response.ByteSize()
        if size <= self._max_bytes:
            return None
        logger.error("%s answered %d bytes, over the send limit of %d", what, size, self._max_bytes)
        return (
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"{what} returned {size} bytes, more than this action server's send limit of "
            f"{self._max_bytes} bytes (max_message_bytes, JETACTIONS_MAX_MESSAGE_BYTES)",
        )


# Exact types that are never awaitable (none of them has __await__).
_PLAIN_ANSWERS = frozenset({type(None), bool, int, float, str, dict, list, Result, File})


def _ids(values: Iterable[struct_pb2.Value]) -> list[int | float | str] | None:
    """The record ids as Python values, each keeping its JSON type; None unless every one is
    a number or a string."""
    ids: list[int | float | str] = []
    for value in values:
        kind = value.WhichOneof("kind")
        if kind == "number_value":
            ids.append(_convert.number(value.number_value))
        elif kind == "string_value":
            ids.append(value.string_value)
        else:
            return None
    return ids


def _unsendable(what: str, error: UnsendableValue) -> tuple[grpc.StatusCode, str]:
    message = f"{what} returned a value that cannot be sent: {error}"
    logger.error("%s", message)
    return (grpc.StatusCode.INTERNAL, message)


def _deadline(context: CallContext) -> float | None:
    # Anchored to the monotonic clock once, so ctx.time_remaining() works from any thread.
    remaining = context.time_remaining()
    return None if remaining is None else time.monotonic() + remaining


def _metadata(context: CallContext) -> dict[str, str | bytes]:
    metadata: dict[str, str | bytes] = {}
    for key, value in context.invocation_metadata() or ():
        # Handlers may log their metadata; the bridge secret must never reach a log.
        if key != SECRET_METADATA:
            metadata.setdefault(key, value)
    return metadata


def _caller(
    request: actions_pb2.ExecuteActionRequest | actions_pb2.GetFieldOptionsRequest,
) -> Caller | None:
    if not request.HasField("caller"):
        return None
    caller = request.caller
    # The claims are converted when first read (see jetactions.context).
    return Caller._prefilled(
        {
            "auth_method": AUTH_METHODS.get(caller.auth_method, ""),
            "user_id": caller.user_id,
            "user_email": caller.user_email,
            "project": caller.project,
            "environment": caller.environment,
            "token": caller.token,
        },
        {"claims": functools.partial(_convert.from_struct, caller.claims)},
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


def _fill(target: Any, obj: object, where: str) -> None:
    """Writes ``obj`` into a Value (or, for mappings, a Struct) naming ``where`` on failure."""
    try:
        if isinstance(target, struct_pb2.Struct):
            if not isinstance(obj, Mapping):
                raise UnsendableValue(f"must be a mapping, not {type(obj).__name__}")
            _convert.fill_struct(target, obj)
        else:
            _convert.fill_value(target, obj)
    except UnsendableValue as error:
        raise error.inside(where) from None


def _text(obj: object, where: str) -> str:
    if not isinstance(obj, str):
        raise UnsendableValue(f"must be a string, not {type(obj).__name__}", where)
    return obj


def _outcome(value: object) -> actions_pb2.ExecuteActionResponse:
    """Maps a handler's return value to the response (see ``jetactions.results``).

    Raises:
        UnsendableValue: A part of it has no JSON form; the path starts at ``result``, the
            returned value itself.
    """
    if type(value) is Result:
        # The usual answer, first: the Mapping check below is an ABC check.
        response = actions_pb2.ExecuteActionResponse()
        _result(response.result, value)
        return response
    if isinstance(value, File):
        return actions_pb2.ExecuteActionResponse(
            file=actions_pb2.File(
                filename=value.filename, content_type=value.content_type, content=value.content
            )
        )
    response = actions_pb2.ExecuteActionResponse()
    result = response.result
    if value is None:
        _convert.fill_value(result.value, True)
    elif isinstance(value, Mapping):
        rest = dict(value)
        message, html = rest.pop("message", None), rest.pop("html", None)
        _fill(result.value, rest.pop("result", True), "result.result")
        if message is not None:
            result.message = str(message)
        if html is not None:
            result.html = str(html)
        if rest:
            for key in rest:
                if not isinstance(key, str):
                    raise UnsendableValue(
                        f"JSON object keys must be strings, not {type(key).__name__}", "result"
                    )
                _fill(result.extra.fields[key], rest[key], f"result.{key}")
    elif isinstance(value, Result):
        _result(result, value)
    else:
        _fill(result.value, value, "result")
    return response


def _result(result: actions_pb2.Result, value: Result) -> None:
    _fill(result.value, value.value, "result.value")
    if value.message is not None:
        result.message = _text(value.message, "result.message")
    if value.html is not None:
        result.html = _text(value.html, "result.html")
    if value.extra:
        _fill(result.extra, value.extra, "result.extra")


def _options(value: object) -> list[actions_pb2.Option]:
    """Maps a field options handler's return value to proto options.

    Raises:
        UnsendableValue: It is not a list of options, or an option's value has no JSON form.
    """
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        raise UnsendableValue(f"must be a list, not {type(value).__name__}", "options")
    options = []
    for index, item in enumerate(value):
        where = f"options[{index}]"
        if isinstance(item, Mapping):
            if "value" not in item:
                raise UnsendableValue("an option needs a 'value'", where)
            item = Option(
                value=item["value"],
                name=str(item.get("name", item["value"])),
                color=str(item.get("color") or ""),
            )
        if not isinstance(item, Option):
            raise UnsendableValue(f"must be an Option or a dict, not {type(item).__name__}", where)
        option = actions_pb2.Option(
            name=_text(item.name, f"{where}.name"), color=_text(item.color, f"{where}.color")
        )
        _fill(option.value, item.value, f"{where}.value")
        options.append(option)
    return options
