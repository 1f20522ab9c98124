"""Calling an ``ActionServer`` in this process, through a real ActionService stub.

``InProcessChannel(app)`` is a ``grpc.aio.Channel`` whose calls go straight to the servicer
``ActionServer.start`` would serve, without sockets or serialization. The generated stub works
on it unchanged, so code written against a network channel runs against it as is::

    async with InProcessChannel(app) as channel:
        stub = channel.stub  # a jetactions.v1 ActionServiceStub
        response = await stub.ExecuteAction(request, timeout=5, metadata=[("x-request-id", "1")])

What a network call does, an in-process call does too:

- ``timeout`` is the call's deadline: the handler sees it in ``ctx.time_remaining()``, and when
  it passes the handler is cancelled and the call fails with DEADLINE_EXCEEDED;
- cancelling the task that awaits a call cancels the handler (a sync handler's thread runs on,
  counted as stuck by the app's ``sync_pool``);
- ``metadata`` reaches the handler's ``ctx.metadata``;
- every failure raises ``grpc.aio.AioRpcError`` with the status a network call gets, requests
  and answers over ``max_message_bytes`` included (RESOURCE_EXHAUSTED).

Requests are handed to the servicer as they are and answers returned as built, so neither may
be changed while a call runs; ListActions answers a fresh copy, as it is cached by the server.
``jetactions.testing.ActionTester`` and the Jet bridge's ``inprocess:`` services both call
actions through this channel.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from types import TracebackType
from typing import Any, NoReturn, Self

import grpc
from google.protobuf.message import Message

from jetactions._servicer import ActionServicer
from jetactions.contract import SERVICE_NAME as _SERVICE
from jetactions.server import DEFAULT_MAX_MESSAGE_BYTES, ActionServer
from jetactions.v1 import actions_pb2_grpc

__all__ = ["InProcessChannel", "InProcessContext", "Metadata"]

Metadata = Sequence[tuple[str, str | bytes]]
"""Call metadata as ``(key, value)`` pairs, as grpc.aio takes it."""


class _Aborted(Exception):
    """Ends a call from inside the servicer, as ``grpc.aio.ServicerContext.abort`` does."""


class InProcessContext:
    """The server side of one in-process call: the part of ``grpc.aio.ServicerContext``
    an action servicer uses, with the same meaning.

    Args:
        timeout: Seconds until the call's deadline, or None.
        metadata: The client's metadata.
    """

    __slots__ = ("_cancelled", "_code", "_deadline", "_details", "_done", "_metadata", "_trailer")

    def __init__(self, timeout: float | None, metadata: Metadata) -> None:
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._metadata = tuple(metadata)
        self._code = grpc.StatusCode.OK
        self._details = ""
        self._trailer: tuple[tuple[str, str | bytes], ...] = ()
        self._cancelled = False
        self._done = False

    async def abort(
        self,
        code: grpc.StatusCode,
        details: str = "",
        trailing_metadata: Metadata = (),
    ) -> NoReturn:
        """Ends the call with ``code``: the client's await raises it as an AioRpcError."""
        if code is grpc.StatusCode.OK:
            raise ValueError("abort needs an error status, not OK")
        self._code, self._details = code, details
        if trailing_metadata:
            self._trailer = tuple(trailing_metadata)
        raise _Aborted

    def time_remaining(self) -> float | None:
        """Seconds before the client's deadline, or None without one."""
        return None if self._deadline is None else max(0.0, self._deadline - time.monotonic())

    def invocation_metadata(self) -> tuple[tuple[str, str | bytes], ...]:
        """The client's metadata."""
        return self._metadata

    def set_code(self, code: grpc.StatusCode) -> None:
        """Sets the status the call ends with when the method returns."""
        self._code = code

    def set_details(self, details: str) -> None:
        """Sets the status details."""
        self._details = details

    def code(self) -> grpc.StatusCode:
        """The status set so far."""
        return self._code

    def details(self) -> str:
        """The status details set so far."""
        return self._details

    def set_trailing_metadata(self, trailing_metadata: Metadata) -> None:
        """Sets the trailing metadata sent with the status."""
        self._trailer = tuple(trailing_metadata)

    def trailing_metadata(self) -> tuple[tuple[str, str | bytes], ...]:
        """The trailing metadata set so far."""
        return self._trailer

    def peer(self) -> str:
        """Who is calling: always this process."""
        return "inprocess"

    def cancelled(self) -> bool:
        """Whether the call was cancelled (by its deadline or by the client)."""
        return self._cancelled

    def done(self) -> bool:
        """Whether the call has ended."""
        return self._done


def _error(context: InProcessContext) -> grpc.aio.AioRpcError:
    """The error a network channel raises for a call that ended with the context's status."""
    return grpc.aio.AioRpcError(
        context.code(),
        grpc.aio.Metadata(),
        grpc.aio.Metadata(*context.trailing_metadata()),
        context.details(),
    )


def _status(code: grpc.StatusCode, details: str) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details)


class _UnaryUnary:
    """One method of the service, callable as a stub's multicallable."""

    __slots__ = ("_cached", "_limit", "_method")

    def __init__(
        self, method: Callable[[Any, Any], Awaitable[Any]], cached: bool, limit: int
    ) -> None:
        self._method = method
        self._cached = cached  # the servicer answers a shared message: hand out copies
        self._limit = limit

    def __call__(
        self,
        request: Message,
        *,
        timeout: float | None = None,
        metadata: Metadata | None = None,
        credentials: object = None,
        wait_for_ready: bool | None = None,
        compression: object = None,
    ) -> Coroutine[Any, Any, Any]:
        # A coroutine, like grpc.aio's call object awaitable once; it runs in the awaiting
        # task (no task per call), so cancelling that task cancels the call.
        return self._invoke(request, timeout, metadata or ())

    async def _invoke(
        self,
        request: Message,
        timeout: float | None,  # noqa: ASYNC109
        metadata: Metadata,
    ) -> Any:
        size = request.ByteSize()
        if size > self._limit:
            raise _status(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"Received message larger than max ({size} vs. {self._limit})",
            )
        context = InProcessContext(timeout, metadata)
        scope = asyncio.timeout(timeout)
        try:
            async with scope:
                response = await self._method(request, context)
        except _Aborted:
            raise _error(context) from None
        except TimeoutError:
            if not scope.expired():
                raise _unexpected(TimeoutError()) from None
            context._cancelled = True
            raise _status(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded") from None
        except asyncio.CancelledError:
            context._cancelled = True
            raise
        except Exception as error:
            raise _unexpected(error) from None
        finally:
            context._done = True
        if context.code() is not grpc.StatusCode.OK:
            raise _error(context)
        if self._cached:
            copy = type(response)()
            copy.CopyFrom(response)
            return copy
        return response


def _unexpected(error: Exception) -> grpc.aio.AioRpcError:
    # What grpc.aio's server answers when a servicer method raises.
    return _status(grpc.StatusCode.UNKNOWN, f"Unexpected {type(error)}: {error}")


class InProcessChannel(grpc.aio.Channel):
    """A channel to an ``ActionServer`` in this process; see the module's docs.

    Always READY: there is nothing to connect, and an in-process server never restarts, so
    ``wait_for_state_change`` returns only once the channel is closed. The app's actions are
    read once, here; declare them first.

    Args:
        app: The action server to call.
        max_message_bytes: The limit on one message, request or answer, as the server's.
    """

    def __init__(
        self, app: ActionServer, *, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    ) -> None:
        if not isinstance(app, ActionServer):
            raise TypeError(f"InProcessChannel needs an ActionServer, not {type(app).__name__}")
        servicer = ActionServicer(
            app,
            server_name=app.name,
            sync_pool=app.sync_pool,
            max_message_bytes=max_message_bytes,
        )
        self._methods = {
            f"/{_SERVICE}/ListActions": _UnaryUnary(servicer.ListActions, True, max_message_bytes),
            f"/{_SERVICE}/ExecuteAction": _UnaryUnary(
                servicer.ExecuteAction, False, max_message_bytes
            ),
            f"/{_SERVICE}/GetFieldOptions": _UnaryUnary(
                servicer.GetFieldOptions, False, max_message_bytes
            ),
        }
        self._closed: asyncio.Event | None = None
        self._stub: actions_pb2_grpc.ActionServiceStub | None = None

    @property
    def stub(self) -> actions_pb2_grpc.ActionServiceStub:
        """The generated ActionService stub on this channel."""
        if self._stub is None:
            self._stub = actions_pb2_grpc.ActionServiceStub(self)
        return self._stub

    def unary_unary(
        self,
        method: str,
        request_serializer: Callable[[Any], bytes] | None = None,
        response_deserializer: Callable[[bytes], Any] | None = None,
        _registered_method: bool | None = False,
    ) -> Any:
        """The multicallable of ``method`` (``/package.Service/Method``); messages are passed
        as objects, so the (de)serializers are not used."""
        found = self._methods.get(method)
        if found is None:
            return _Unimplemented(method)
        return found

    def unary_stream(self, *args: Any, **kwargs: Any) -> NoReturn:
        """ActionService has unary methods only."""
        raise NotImplementedError("ActionService has no streaming methods")

    stream_unary = stream_stream = unary_stream

    def _closed_event(self) -> asyncio.Event:
        if self._closed is None:
            self._closed = asyncio.Event()
        return self._closed

    async def close(self, grace: float | None = None) -> None:
        """Closes the channel (calls in progress finish: they run in their callers' tasks)."""
        self._closed_event().set()

    def get_state(self, try_to_connect: bool = False) -> grpc.ChannelConnectivity:
        """READY until closed, then SHUTDOWN."""
        if self._closed is not None and self._closed.is_set():
            return grpc.ChannelConnectivity.SHUTDOWN
        return grpc.ChannelConnectivity.READY

    async def wait_for_state_change(self, last_observed_state: grpc.ChannelConnectivity) -> None:
        """Returns once the state differs from ``last_observed_state``."""
        if self.get_state() is last_observed_state:
            await self._closed_event().wait()

    async def channel_ready(self) -> None:
        """Returns at once: the channel is always ready."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        await self.close()


class _Unimplemented:
    """A method the service does not have: UNIMPLEMENTED, as a server answers it."""

    def __init__(self, method: str) -> None:
        self._method = method

    async def __call__(self, request: object, **kwargs: object) -> NoReturn:
        raise _status(grpc.StatusCode.UNIMPLEMENTED, f"Method not found: {self._method}")
