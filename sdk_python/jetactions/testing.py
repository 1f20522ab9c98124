"""Unit-testing actions without a network.

``ActionTester`` plays the bridge: it builds the same protobuf requests and sends them through
``jetactions.inprocess.InProcessChannel`` to the same servicer the server runs (so inputs go
through the same conversion and validation, deadlines and statuses behave as over gRPC), and
turns the answers back into plain Python. ``SyncActionTester`` does the same from plain
(non-async) test functions.

Example:
    ```python
    async def test_mail_users() -> None:  # with pytest-asyncio (asyncio_mode = "auto")
        tester = ActionTester(app)
        outcome = await tester.execute("mail_users", ids=[1], inputs={"subject": "Hi"})
        assert outcome.message == "Mailed 1 users"


    def test_mail_users_sync() -> None:
        with SyncActionTester(app) as tester:
            outcome = tester.execute("mail_users", ids=[1], inputs={"subject": "Hi"})
        assert outcome.message == "Mailed 1 users"
    ```
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self, TypeVar

import grpc

from jetactions import _convert
from jetactions._servicer import caller_to_proto
from jetactions.action import ActionDefinition
from jetactions.context import Caller
from jetactions.errors import NON_FIELD_ERRORS, ActionError
from jetactions.inprocess import InProcessChannel
from jetactions.results import File, Option
from jetactions.server import ActionServer
from jetactions.v1 import actions_pb2, actions_pb2_grpc

__all__ = ["ActionTester", "Outcome", "SyncActionTester"]

T = TypeVar("T")


@dataclass(frozen=True)
class Outcome:
    """What an action run produced, as Jet would see it.

    Attributes:
        value: The ``result`` value (False for field errors, None for a file).
        message: The plain text message, if any.
        html: The HTML message, if any.
        extra: Further keys of the result object.
        errors: The field errors (``non_field_errors`` included), or None when the run
            succeeded.
        file: The file download, or None.
    """

    value: Any = True
    message: str | None = None
    html: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, list[str]] | None = None
    file: File | None = None


class ActionTester:
    """Calls an app's actions in-process, the way the bridge would over gRPC.

    Create it after the app's actions are declared: it reads them once, at the first call.
    A call without ``timeout`` still honours the action's declared ``timeout=``.

    Args:
        app: The ``ActionServer`` under test.
    """

    def __init__(self, app: ActionServer) -> None:
        if not isinstance(app, ActionServer):
            raise TypeError(f"ActionTester needs an ActionServer, not {type(app).__name__}")
        self._app = app
        self._channel: InProcessChannel | None = None

    @property
    def channel(self) -> InProcessChannel:
        """The in-process channel the calls go through."""
        if self._channel is None:
            self._channel = InProcessChannel(self._app)
        return self._channel

    @property
    def stub(self) -> actions_pb2_grpc.ActionServiceStub:
        """The ActionService stub the calls go through, for raw protobuf calls."""
        return self.channel.stub

    async def list_actions(self) -> list[ActionDefinition]:
        """Returns the actions ListActions lists, as the SDK's typed definitions, in order.

        Raises:
            ActionError: The call ended with a gRPC status.
        """
        listing = await _call(self.stub.ListActions(actions_pb2.ListActionsRequest()))
        actions = self._app.actions
        return [actions[entry.name] for entry in listing.actions]

    async def execute(
        self,
        action: str,
        *,
        model: str = "",
        ids: Iterable[int | float | str] = (),
        inverse_ids: bool = False,
        inputs: Mapping[str, object] | None = None,
        params: Mapping[str, object] | None = None,
        caller: Caller | None = None,
        # The gRPC deadline the handler sees in ctx.time_remaining(), not just a cancel scope.
        timeout: float | None = None,  # noqa: ASYNC109
        metadata: Mapping[str, str] | None = None,
    ) -> Outcome:
        """Runs an action.

        Args:
            action: The action's name.
            model: The collection; empty for common actions.
            ids: The selected record ids.
            inverse_ids: The action targets every record except ``ids``.
            inputs: The form's inputs.
            params: The message's whole ``params``; by default built like Jet's
                (``name``, ``model``, ``ids``, ``inverseIds``, ``params``).
            caller: Who is calling; None sends no caller.
            timeout: The call's deadline in seconds (the action's declared ``timeout=``
                applies too, whichever ends first); a run that exceeds it raises
                ``ActionError`` with DEADLINE_EXCEEDED.
            metadata: gRPC metadata for the call.

        Returns:
            The outcome.

        Raises:
            ActionError: The call ended with a gRPC status (unknown action, a handler's
                ``ActionError``, INTERNAL for an unexpected exception).
        """
        id_list = list(ids)
        form = dict(inputs or {})
        if params is None:
            params = {"name": action, "params": form}
            if model:
                params["model"] = model
            if id_list:
                params |= {"ids": id_list, "inverseIds": inverse_ids}
        request = actions_pb2.ExecuteActionRequest(
            action=action,
            model=model,
            ids=[_convert.to_value(item) for item in id_list],
            inverse_ids=inverse_ids,
            inputs=_convert.to_struct(form),
            message_params=_convert.to_struct(params),
            caller=None if caller is None else caller_to_proto(caller),
        )
        response = await _call(
            self.stub.ExecuteAction(request, timeout=timeout, metadata=_pairs(metadata))
        )
        return _outcome(response)

    async def field_options(
        self,
        model: str,
        field: str,
        form: Mapping[str, object] | None = None,
        *,
        params: Mapping[str, object] | None = None,
        caller: Caller | None = None,
        # The gRPC deadline the handler sees in ctx.time_remaining(), not just a cancel scope.
        timeout: float | None = None,  # noqa: ASYNC109
        metadata: Mapping[str, str] | None = None,
    ) -> list[Option]:
        """Asks for the options of a select field.

        Args:
            model: The model (collection) of the field.
            field: The field's name.
            form: The values currently typed into the form.
            params: The message's whole ``params``; by default ``model``, ``field``, ``form``.
            caller: Who is calling; None sends no caller.
            timeout: The call's deadline in seconds.
            metadata: gRPC metadata for the call.

        Raises:
            ActionError: The call ended with a gRPC status.
        """
        values = dict(form or {})
        request = actions_pb2.GetFieldOptionsRequest(
            model=model,
            field=field,
            form=_convert.to_struct(values),
            message_params=_convert.to_struct(
                {"model": model, "field": field, "form": values} if params is None else params
            ),
            caller=None if caller is None else caller_to_proto(caller),
        )
        response = await _call(
            self.stub.GetFieldOptions(request, timeout=timeout, metadata=_pairs(metadata))
        )
        return [
            Option(_convert.from_value(option.value), option.name, option.color)
            for option in response.options
        ]


def _pairs(metadata: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    return tuple((metadata or {}).items())


async def _call(call: Any) -> Any:
    """Awaits a stub call, raising its status as ``ActionError``."""
    try:
        return await call
    except grpc.aio.AioRpcError as error:
        raise ActionError(error.code(), error.details() or "") from None


def _outcome(response: actions_pb2.ExecuteActionResponse) -> Outcome:
    kind = response.WhichOneof("outcome")
    if kind == "errors":
        errors = {name: list(entry.messages) for name, entry in response.errors.fields.items()}
        if response.errors.non_field_errors:
            errors[NON_FIELD_ERRORS] = list(response.errors.non_field_errors)
        return Outcome(value=False, errors=errors)
    if kind == "file":
        content_type = response.file.content_type or "application/octet-stream"
        return Outcome(
            value=None,
            file=File(response.file.filename, response.file.content, content_type),
        )
    result = response.result
    return Outcome(
        value=_convert.from_value(result.value) if result.HasField("value") else True,
        message=result.message if result.HasField("message") else None,
        html=result.html if result.HasField("html") else None,
        extra=_convert.from_struct(result.extra),
    )


class SyncActionTester:
    """``ActionTester`` for plain test functions: the same calls, without ``await``.

    Runs its calls on an event loop of its own, so it cannot be used from inside a running
    loop (use ``ActionTester`` there: it raises RuntimeError). Close it when done (or use it
    as a context manager).

    Example:
        ```python
        def test_refresh() -> None:
            with SyncActionTester(app) as tester:
                assert tester.execute("refresh_stats").value is True
        ```

    Args:
        app: The ``ActionServer`` under test.
    """

    def __init__(self, app: ActionServer) -> None:
        self._tester = ActionTester(app)
        # A loop factory keeps the runner from replacing the thread's current event loop.
        self._runner = asyncio.Runner(loop_factory=asyncio.new_event_loop)

    def _run(self, call: Coroutine[Any, Any, T]) -> T:
        return self._runner.run(call)

    def list_actions(self) -> list[ActionDefinition]:
        """``ActionTester.list_actions``."""
        return self._run(self._tester.list_actions())

    def execute(
        self,
        action: str,
        *,
        model: str = "",
        ids: Iterable[int | float | str] = (),
        inverse_ids: bool = False,
        inputs: Mapping[str, object] | None = None,
        params: Mapping[str, object] | None = None,
        caller: Caller | None = None,
        timeout: float | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> Outcome:
        """``ActionTester.execute``."""
        return self._run(
            self._tester.execute(
                action,
                model=model,
                ids=ids,
                inverse_ids=inverse_ids,
                inputs=inputs,
                params=params,
                caller=caller,
                timeout=timeout,
                metadata=metadata,
            )
        )

    def field_options(
        self,
        model: str,
        field: str,
        form: Mapping[str, object] | None = None,
        *,
        params: Mapping[str, object] | None = None,
        caller: Caller | None = None,
        timeout: float | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> list[Option]:
        """``ActionTester.field_options``."""
        return self._run(
            self._tester.field_options(
                model,
                field,
                form,
                params=params,
                caller=caller,
                timeout=timeout,
                metadata=metadata,
            )
        )

    def close(self) -> None:
        """Closes the tester's event loop."""
        self._runner.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
