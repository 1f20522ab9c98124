"""The SDK's optimised paths give what the straightforward paths give.

- A sync handler's hand-off to the pool's thread and back (one event loop future resolved with
  ``call_soon_threadsafe``) against ``loop.run_in_executor``: the same results, the same
  exceptions, the same context, the same end for a call whose caller stops waiting;
- the server's observer and bridge-secret check wrapped around the servicer's methods
  (``ActionServer.start``) against the same two as gRPC server interceptors: the same answers,
  statuses, log lines and metrics, for every kind of call, with and without the secret.

No timing is asserted: speed is bench/'s business (scenario `floors`), these pin correctness.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import grpc
import pytest
from prometheus_client import REGISTRY

from jetactions import (
    ActionContext,
    ActionError,
    ActionServer,
    FieldContext,
    FieldErrors,
    Option,
    Result,
    SyncPool,
)
from jetactions._metrics import rpc_metrics
from jetactions._observe import CallObserver
from jetactions._secret import BridgeSecretInterceptor
from jetactions._servicer import ActionServicer
from jetactions.v1 import actions_pb2, actions_pb2_grpc

# --- the sync pool's hand-off ------------------------------------------------------------------

marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker", default="unset")


class Odd:
    """A result that is neither JSON nor comparable by value: identity must survive."""


ODD = Odd()


def raises(error: BaseException) -> Callable[[], Any]:
    def function() -> Any:
        raise error

    return function


FUNCTIONS: list[tuple[str, Callable[[], Any]]] = [
    ("none", lambda: None),
    ("int", lambda: 42),
    ("text", lambda: "ünïcode"),
    ("object", lambda: ODD),
    ("nested", lambda: {"a": [1, 2, {"b": None}]}),
    ("context", lambda: marker.get()),
    ("thread", lambda: threading.current_thread() is threading.main_thread()),
    ("value-error", raises(ValueError("bad", 1))),
    ("action-error", raises(ActionError(grpc.StatusCode.FAILED_PRECONDITION, "no"))),
    ("field-errors", raises(FieldErrors.single("x", "wrong"))),
    ("keyboard", raises(KeyboardInterrupt())),
    ("timeout", raises(TimeoutError("slow"))),
]


async def outcome(run: Callable[[Callable[[], Any]], Any], function: Callable[[], Any]) -> Any:
    marker.set("set by the caller")
    call = functools.partial(contextvars.copy_context().run, function)
    try:
        return ("returned", await run(call))
    except BaseException as error:
        return ("raised", type(error), error.args)


@pytest.mark.parametrize(("name", "function"), FUNCTIONS, ids=[name for name, _ in FUNCTIONS])
async def test_pool_hand_off_matches_run_in_executor(
    name: str, function: Callable[[], Any]
) -> None:
    pool = SyncPool(2, name="fast")
    loop = asyncio.get_running_loop()
    with concurrent.futures.ThreadPoolExecutor(2) as executor:
        plain = await outcome(lambda call: loop.run_in_executor(executor, call), function)
    fast = await outcome(lambda call: pool.run(call, "action 'x'"), function)
    assert fast == plain
    if name == "object":
        assert fast[1] is ODD
    assert (pool.busy, pool.stuck) == (0, 0)


async def test_a_handler_raising_stop_iteration_fails_its_call() -> None:
    # A future cannot hold StopIteration; run_in_executor's chaining would never resolve.
    pool = SyncPool(1, name="fast")
    with pytest.raises(RuntimeError, match="StopIteration"):
        await pool.run(raises(StopIteration("done")), "action 'x'")
    assert pool.busy == 0


def _hold(started: threading.Event, release: threading.Event, done: threading.Event) -> str:
    started.set()
    release.wait(10)
    done.set()
    return "late"


async def test_a_caller_gone_mid_run_leaves_the_thread_running_as_with_an_executor() -> None:
    pool = SyncPool(1, name="fast")
    loop = asyncio.get_running_loop()
    for run in ("executor", "pool"):
        started, release, done = threading.Event(), threading.Event(), threading.Event()
        hold = functools.partial(_hold, started, release, done)
        with concurrent.futures.ThreadPoolExecutor(1) as executor:
            if run == "executor":
                task = asyncio.ensure_future(loop.run_in_executor(executor, hold))
            else:
                task = asyncio.ensure_future(pool.run(hold, "action 'hold'"))
            await asyncio.to_thread(started.wait, 10)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            if run == "pool":
                assert (pool.busy, pool.stuck) == (1, 1)
            release.set()
            await asyncio.to_thread(done.wait, 10)
    # The late result is dropped; the worker is free again and serves the next call.
    assert await pool.run(lambda: "next", "action 'next'") == "next"
    assert (pool.busy, pool.stuck) == (0, 0)


async def test_pool_hand_off_under_many_concurrent_calls() -> None:
    pool = SyncPool(8, name="fast")

    def square(number: int) -> int:
        return number * number

    async def one(number: int) -> int:
        while True:
            try:
                return await pool.run(functools.partial(square, number), "action 'square'")
            except Exception as error:
                if "busy" not in str(error):
                    raise
                await asyncio.sleep(0)

    assert await asyncio.gather(*(one(n) for n in range(500))) == [n * n for n in range(500)]
    assert (pool.busy, pool.stuck) == (0, 0)


# --- the observer and the secret check without interceptors ------------------------------------

SECRET = "fast-secret"
handler_log = logging.getLogger("tests.fastpaths")


def build() -> ActionServer:
    app = ActionServer("fastpaths")

    @app.common_action(name="echo")
    async def echo(ctx: ActionContext, text: str) -> Result:
        handler_log.info("echo %s", text)
        return Result(message=text)

    @app.common_action(name="sync_echo")
    def sync_echo(ctx: ActionContext, text: str) -> str:
        handler_log.info("sync_echo %s", text)
        return text

    @app.common_action(name="refuse")
    async def refuse(ctx: ActionContext) -> None:
        raise ActionError(grpc.StatusCode.FAILED_PRECONDITION, "refused")

    @app.common_action(name="crash")
    def crash(ctx: ActionContext) -> None:
        raise RuntimeError("crashed")

    @app.field_options("orders", "city")
    async def cities(ctx: FieldContext) -> list[Option]:
        return [Option("rome", "Rome")]

    return app


@pytest.fixture
async def interceptor_address() -> AsyncIterator[str]:
    """The straightforward server: the observer and the secret check as interceptors."""
    app = build()
    observer = CallObserver(
        actions=app.actions,
        field_sources=[f"{model}.{field}" for model, field in app.field_option_sources],
        metrics=rpc_metrics(),
        tracing=None,
    )
    server = grpc.aio.server(interceptors=[observer, BridgeSecretInterceptor(SECRET)])
    servicer = ActionServicer(app, server_name=app.name, max_message_bytes=16 * 2**20)
    actions_pb2_grpc.add_ActionServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield f"127.0.0.1:{port}"
    await server.stop(0)


@pytest.fixture
async def server_address() -> AsyncIterator[str]:
    """The server as ActionServer starts it (the wrapped servicer)."""
    running = await build().start(
        "127.0.0.1:0", bridge_secret=SECRET, metrics_port=0, health=False, reflection=False
    )
    yield running.address
    await running.stop(0)


def calls() -> Iterator[tuple[str, str, Any]]:
    execute = actions_pb2.ExecuteActionRequest
    inputs = {"text": "hi"}
    for name, request in (
        ("echo", execute(action="echo")),
        ("sync_echo", execute(action="sync_echo")),
        ("refuse", execute(action="refuse")),
        ("crash", execute(action="crash")),
        ("unknown", execute(action="no_such_action")),
        ("missing input", execute(action="echo")),
    ):
        if name in {"echo", "sync_echo"}:
            request.inputs.update(inputs)
        yield name, "ExecuteAction", request
    yield "list", "ListActions", actions_pb2.ListActionsRequest()
    yield (
        "options",
        "GetFieldOptions",
        actions_pb2.GetFieldOptionsRequest(model="orders", field="city"),
    )
    yield "no options", "GetFieldOptions", actions_pb2.GetFieldOptionsRequest(model="x", field="y")


def rpc_samples() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in REGISTRY.collect():
        if family.name.startswith("rpc_server_") and family.type != "histogram":
            for sample in family.samples:
                if sample.name.endswith("_created"):
                    continue  # when a series began, not what it counts
                found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def exchange(address: str, caplog: pytest.LogCaptureFixture) -> dict[str, Any]:
    """Every call with the secret, a wrong one and none; what each answered, logged, counted."""
    before = rpc_samples()
    caplog.clear()
    answers: list[tuple[str | None, str, Any, Any]] = []
    async with grpc.aio.insecure_channel(address) as channel:
        stub = actions_pb2_grpc.ActionServiceStub(channel)
        for secret in (SECRET, "wrong", None):
            for index, (name, method, request) in enumerate(calls()):
                metadata = [("x-request-id", f"req-{index}")]
                if secret is not None:
                    metadata.append(("x-jetbridge-secret", secret))
                try:
                    reply = await getattr(stub, method)(request, metadata=metadata, timeout=10)
                    answers.append(
                        (secret, name, "OK", reply.SerializeToString(deterministic=True))
                    )
                except grpc.aio.AioRpcError as error:
                    answers.append((secret, name, error.code(), error.details()))
    after = rpc_samples()
    counted = {key: value - before.get(key, 0.0) for key, value in after.items()}
    logged = [
        (record.name, record.getMessage(), getattr(record, "request_id", None))
        for record in caplog.records
        if record.name in {"tests.fastpaths", "jetactions"}
        and "serving on" not in record.getMessage()
    ]
    return {"answers": answers, "counted": counted, "logged": logged}


async def test_wrapped_servicer_answers_logs_and_counts_like_interceptors(
    interceptor_address: str, server_address: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    plain = await exchange(interceptor_address, caplog)
    fast = await exchange(server_address, caplog)
    assert fast["answers"] == plain["answers"]
    assert fast["logged"] == plain["logged"]
    assert fast["counted"] == plain["counted"]
    # The comparison means something: each kind of ending happened.
    codes = {answer[2] for answer in plain["answers"]}
    assert {"OK", grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.NOT_FOUND} <= codes
    assert {grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.INTERNAL} <= codes
    assert ("jetactions", "action 'crash' failed", "req-3") in plain["logged"]
    assert ("tests.fastpaths", "sync_echo hi", None) in plain["logged"]
    refused = (
        "rpc_server_calls_total",
        (("action", ""), ("outcome", "UNAUTHENTICATED"), ("rpc_method", "ExecuteAction")),
    )
    assert plain["counted"][refused] == 12
