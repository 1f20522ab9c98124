"""In-process action servers: the bridge calls a Python ``ActionServer``'s handlers directly.

For single-process deployments the bridge can load the action server's module itself and skip
the network hop. Give the service as

    --service shop=inprocess:MODULE:ATTR

where MODULE is a dotted module name (imported with the working directory on ``sys.path``, as
``python -m`` would) or the path of a ``.py`` file (its directory goes on ``sys.path``, as
``python file.py`` would), and ATTR names either an ``ActionServer`` (any
``jetactions.action.ActionRegistry``) or a callable that takes no arguments and returns one, for
example ``inprocess:examples/python/shop.py:build_app`` or ``inprocess:myactions.shop:app``.

The same servicer the SDK's gRPC server runs answers the calls, so inputs go through the same
validation and conversion. What changes is only the transport: no serialization and no sockets.
The semantics of the network path are kept where the bridge can see them: the call's deadline is
enforced (the handler is cancelled and the call ends with DEADLINE_EXCEEDED), metadata reaches
the handler's context, and every failure surfaces as the same ``grpc.aio.AioRpcError`` a real
channel raises, so routing and discovery treat both kinds of service alike. Sync handlers run in
a thread pool of their own, as in ``ActionServer``. Each bridge process builds its own copy of the
action server: state kept in memory by the handlers is not shared between processes.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import logging
import re
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any, NoReturn, Self, TypeVar

import grpc

from jetactions._servicer import ActionServicer
from jetactions.action import ActionRegistry
from jetactions.v1 import actions_pb2

__all__ = [
    "PREFIX",
    "InProcessChannel",
    "InProcessStub",
    "connect",
    "is_inprocess",
    "load_registry",
    "resolve",
]

log = logging.getLogger(__name__)

PREFIX = "inprocess:"

Request = TypeVar("Request")
Response = TypeVar("Response")
Metadata = Sequence[tuple[str, str | bytes]]


def is_inprocess(target: str) -> bool:
    """Whether a service target names an in-process action server."""
    return target.startswith(PREFIX)


def _split(target: str) -> tuple[str, str]:
    spec = target.removeprefix(PREFIX).strip()
    module, sep, attr = spec.rpartition(":")
    if not sep or not module.strip() or not attr.strip():
        raise ValueError(
            f"{target!r} is not {PREFIX}MODULE:ATTR "
            f"(e.g. {PREFIX}examples/python/shop.py:build_app or {PREFIX}mypackage.actions:app)"
        )
    return module.strip(), attr.strip()


def _import(module: str) -> ModuleType:
    if module.endswith(".py") or "/" in module:
        path = Path(module).resolve()
        if not path.is_file():
            raise ValueError(f"no such file: {module}")
        name = "_jetbridge_inprocess_" + re.sub(r"\W", "_", str(path))
        if name in sys.modules:
            return sys.modules[name]
        # Like `python file.py`: the file's own directory first, so its sibling imports work.
        if str(path.parent) not in sys.path:
            sys.path.insert(0, str(path.parent))
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ValueError(f"cannot load {module} as a Python module")
        loaded = importlib.util.module_from_spec(spec)
        sys.modules[name] = loaded
        try:
            spec.loader.exec_module(loaded)
        except BaseException:
            del sys.modules[name]
            raise
        return loaded
    # Like `python -m`: modules are looked up from the working directory too (the console
    # script's sys.path does not have it).
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    return importlib.import_module(module)


def resolve(target: str) -> Callable[[], ActionRegistry]:
    """Import the module of `target` and return what builds its registry.

    Raises ValueError, with a message that names the problem, when the module cannot be imported
    or the attribute is neither an ActionRegistry nor a callable. A factory is not called here.
    """
    module_name, attr = _split(target)
    try:
        module = _import(module_name)
    except ValueError:
        raise
    except Exception as error:
        raise ValueError(f"cannot import {module_name}: {type(error).__name__}: {error}") from None
    try:
        value = getattr(module, attr)
    except AttributeError:
        raise ValueError(f"{module_name} has no attribute {attr!r}") from None
    if isinstance(value, ActionRegistry):
        registry = value
        return lambda: registry
    if callable(value):
        factory: Callable[[], object] = value

        def build() -> ActionRegistry:
            built = factory()
            if not isinstance(built, ActionRegistry):
                raise ValueError(
                    f"{module_name}:{attr}() returned {type(built).__name__}, not an ActionServer"
                )
            return built

        return build
    raise ValueError(
        f"{module_name}:{attr} is a {type(value).__name__}, "
        "not an ActionServer nor a callable that returns one"
    )


def load_registry(target: str) -> ActionRegistry:
    """The registry named by `target`, built now (a factory is called once per call)."""
    return resolve(target)()


class _Abort(Exception):
    """Raised by the local context's abort, as grpc.aio's ends the server call."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


class _Context:
    """The part of ``grpc.aio.ServicerContext`` the SDK's servicer uses."""

    __slots__ = ("_deadline", "_metadata")

    def __init__(self, deadline: float | None, metadata: Metadata) -> None:
        self._deadline = deadline
        self._metadata = metadata

    async def abort(self, code: grpc.StatusCode, details: str = "") -> NoReturn:
        raise _Abort(code, details)

    def time_remaining(self) -> float | None:
        return None if self._deadline is None else max(0.0, self._deadline - time.monotonic())

    def invocation_metadata(self) -> Iterable[tuple[str, str | bytes]]:
        return self._metadata


def _rpc_error(code: grpc.StatusCode, details: str) -> grpc.aio.AioRpcError:
    """The error a real channel raises for a call that ended with `code`."""
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details)


class InProcessStub:
    """Calls an ActionServicer in this process with the generated stub's call signature.

    ``await stub.ExecuteAction(request, timeout=..., metadata=...)`` behaves as over gRPC: the
    deadline is enforced and failures raise ``grpc.aio.AioRpcError`` with the same status.
    """

    def __init__(self, servicer: ActionServicer) -> None:
        self._servicer = servicer

    async def ListActions(
        self,
        request: actions_pb2.ListActionsRequest,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 (the gRPC stub's signature)
        metadata: Metadata = (),
    ) -> actions_pb2.ListActionsResponse:
        """ListActions; a copy, as a deserialized answer would be (the servicer caches it)."""
        listing = await _call(self._servicer.ListActions, request, timeout, metadata)
        response = actions_pb2.ListActionsResponse()
        response.CopyFrom(listing)
        return response

    async def ExecuteAction(
        self,
        request: actions_pb2.ExecuteActionRequest,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
        metadata: Metadata = (),
    ) -> actions_pb2.ExecuteActionResponse:
        """ExecuteAction, answered by the action's handler."""
        return await _call(self._servicer.ExecuteAction, request, timeout, metadata)

    async def GetFieldOptions(
        self,
        request: actions_pb2.GetFieldOptionsRequest,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
        metadata: Metadata = (),
    ) -> actions_pb2.GetFieldOptionsResponse:
        """GetFieldOptions, answered by the field's options handler."""
        return await _call(self._servicer.GetFieldOptions, request, timeout, metadata)


async def _call(
    method: Callable[[Request, Any], Awaitable[Response]],
    request: Request,
    timeout: float | None,  # noqa: ASYNC109
    metadata: Metadata,
) -> Response:
    deadline = None if timeout is None else time.monotonic() + timeout
    context = _Context(deadline, metadata)
    try:
        if timeout is None:
            return await method(request, context)
        async with asyncio.timeout(timeout):
            return await method(request, context)
    except _Abort as abort:
        raise _rpc_error(abort.code, abort.details) from None
    except TimeoutError:
        # Only the deadline's own timeout gets here: the servicer turns a handler's
        # exceptions (TimeoutError included) into INTERNAL aborts.
        raise _rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded") from None
    except Exception as error:
        # What grpc.aio's server answers when a servicer method raises.
        log.exception("in-process call failed")
        raise _rpc_error(grpc.StatusCode.UNKNOWN, f"Unexpected {type(error)}: {error}") from None


class InProcessChannel(grpc.aio.Channel):
    """Stands for the channel of an in-process service: always READY, nothing to connect.

    Discovery watches channel states to notice restarts; an in-process server never restarts,
    so ``wait_for_state_change`` waits until the channel is closed. Closing it stops the thread
    pool of sync handlers.
    """

    def __init__(self, executor: ThreadPoolExecutor) -> None:
        self._executor = executor
        self._closed: asyncio.Event | None = None

    def _closed_event(self) -> asyncio.Event:
        if self._closed is None:
            self._closed = asyncio.Event()
        return self._closed

    async def close(self, grace: float | None = None) -> None:
        self._closed_event().set()
        # Sync handlers still running cannot be interrupted; don't wait for them.
        self._executor.shutdown(wait=False, cancel_futures=True)

    def get_state(self, try_to_connect: bool = False) -> grpc.ChannelConnectivity:
        if self._closed is not None and self._closed.is_set():
            return grpc.ChannelConnectivity.SHUTDOWN
        return grpc.ChannelConnectivity.READY

    async def wait_for_state_change(self, last_observed_state: grpc.ChannelConnectivity) -> None:
        if self.get_state() is last_observed_state:
            await self._closed_event().wait()

    async def channel_ready(self) -> None:
        return None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        await self.close()

    # Calls go through InProcessStub, never through generic multicallables.
    def unary_unary(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise NotImplementedError("call an in-process service through InProcessStub")

    unary_stream = stream_unary = stream_stream = unary_unary


def connect(target: str) -> tuple[InProcessChannel, InProcessStub]:
    """Build the action server named by `target` and return a channel and a stub for it.

    The registry is frozen, as ``ActionServer.start`` freezes it: later registrations would not
    be served, so they fail loudly.
    """
    registry = load_registry(target)
    registry.freeze("it is served in-process by the bridge")
    name = getattr(registry, "name", "inprocess")
    executor = ThreadPoolExecutor(thread_name_prefix=f"jetactions-{name}")
    servicer = ActionServicer(registry, executor=executor)
    return InProcessChannel(executor), InProcessStub(servicer)
