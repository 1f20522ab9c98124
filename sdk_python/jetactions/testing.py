"""Unit-testing actions without a network.

``ActionTester`` plays the bridge: it builds the same protobuf requests, calls the same
servicer the server uses (so inputs go through the same conversion and validation), and
turns the responses back into plain Python.

Example:
    ```python
    async def test_mail_users() -> None:
        tester = ActionTester(app)
        outcome = await tester.execute("mail_users", ids=[1], inputs={"subject": "Hi"})
        assert outcome.message == "Mailed 1 users"
    ```
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

import grpc

from jetactions import _convert
from jetactions._servicer import ActionServicer, caller_to_proto
from jetactions.action import ActionRegistry
from jetactions.context import Caller
from jetactions.errors import NON_FIELD_ERRORS, ActionError
from jetactions.results import File, Option
from jetactions.v1 import actions_pb2

__all__ = ["ActionTester", "Outcome"]


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


class _LocalContext:
    """The in-process stand-in for ``grpc.aio.ServicerContext``: abort raises ActionError."""

    def __init__(self, timeout: float | None, metadata: Mapping[str, str]) -> None:
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._metadata = tuple(metadata.items())

    async def abort(self, code: grpc.StatusCode, details: str = "") -> NoReturn:
        raise ActionError(code, details)

    def time_remaining(self) -> float | None:
        return None if self._deadline is None else max(0.0, self._deadline - time.monotonic())

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._metadata


class ActionTester:
    """Calls an app's actions in-process, the way the bridge would over gRPC.

    Create it after the app's actions are declared: it reads them once, at the first call.

    Args:
        app: The ``ActionServer`` (or any registry) under test.
    """

    def __init__(self, app: ActionRegistry) -> None:
        self._app = app
        self._servicer: ActionServicer | None = None

    @property
    def servicer(self) -> ActionServicer:
        """The servicer the calls go to."""
        if self._servicer is None:
            self._servicer = ActionServicer(self._app)
        return self._servicer

    async def list_actions(self) -> actions_pb2.ListActionsResponse:
        """Returns what ListActions answers (a copy: changing it changes nothing)."""
        context = _LocalContext(None, {})
        response = actions_pb2.ListActionsResponse()
        response.CopyFrom(
            await self.servicer.ListActions(actions_pb2.ListActionsRequest(), context)
        )
        return response

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
            timeout: The call's deadline in seconds; a run that exceeds it raises
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
        context = _LocalContext(timeout, metadata or {})
        async with _deadline(timeout):
            response = await self.servicer.ExecuteAction(request, context)
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
        context = _LocalContext(timeout, metadata or {})
        async with _deadline(timeout):
            response = await self.servicer.GetFieldOptions(request, context)
        return [
            Option(_convert.from_value(option.value), option.name, option.color)
            for option in response.options
        ]


@contextlib.asynccontextmanager
async def _deadline(seconds: float | None) -> AsyncIterator[None]:
    """Turns an exceeded deadline into DEADLINE_EXCEEDED, as a gRPC client would see it."""
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError:
        raise ActionError(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded") from None


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
