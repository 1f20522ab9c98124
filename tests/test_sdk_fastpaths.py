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
import copy
import dataclasses
import functools
import inspect
import logging
import pickle
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import json_format, struct_pb2
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY

from jetactions import (
    ActionContext,
    ActionError,
    ActionServer,
    Caller,
    FieldContext,
    FieldErrors,
    File,
    Option,
    Result,
    SyncPool,
    _convert,
    _logs,
    _servicer,
    contract,
)
from jetactions._metrics import rpc_metrics
from jetactions._observe import CallObserver, MetadataOnce
from jetactions._secret import BridgeSecretInterceptor
from jetactions._servicer import ActionServicer
from jetactions.v1 import actions_pb2, actions_pb2_grpc
from tests.support import ExecuteContext, HandWritten

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

    # As many callers at once as the pool has workers: a worker is free again before its
    # caller hears back, so no call may find the pool busy. (Retrying on "busy" instead spun
    # the loop, which starved the workers of the GIL on a loaded machine.)
    callers = asyncio.Semaphore(pool.size)

    async def one(number: int) -> int:
        async with callers:
            return await pool.run(functools.partial(square, number), "action 'square'")

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


# --- contexts whose fields are computed on first read ------------------------------------------

PROBE_METADATA = (
    ("x-request-id", "probe-1"),
    ("x-custom", "value"),
    ("x-blob-bin", b"\x00\x01"),
    ("x-jetbridge-secret", SECRET),
)
PROBE_IDS: list[Any] = [1, 2.5, "x"]
PROBE_PARAMS: dict[str, Any] = {
    "name": "probe",
    "model": "users",
    "ids": PROBE_IDS,
    "inverseIds": True,
    "params": {"subject": "Hi", "nested": {"list": [1, None, True]}},
    "future_key": 7,
}
PROBE_CLAIMS = {"user": {"id": 7}, "admin": True, "scopes": ["a", "b"]}


def probe_request(action: str) -> actions_pb2.ExecuteActionRequest:
    request = actions_pb2.ExecuteActionRequest(action=action, model="users", inverse_ids=True)
    request.ids.extend(_convert.to_value(item) for item in PROBE_IDS)
    request.inputs.update({"subject": "Hi", "undeclared": [1]})
    _convert.fill_struct(request.message_params, PROBE_PARAMS)
    request.caller.CopyFrom(
        actions_pb2.Caller(
            auth_method=actions_pb2.AUTH_METHOD_JWT,
            user_id="7",
            user_email="ada@example.com",
            project="shop",
            environment="prod",
            token="tok",
        )
    )
    _convert.fill_struct(request.caller.claims, PROBE_CLAIMS)
    return request


def constructed(seen: ActionContext) -> ActionContext:
    """The context the constructor builds from what the probe sent (the straightforward way)."""
    metadata: dict[str, str | bytes] = {"user-agent": seen.metadata["user-agent"]}
    metadata |= {key: value for key, value in PROBE_METADATA if key != "x-jetbridge-secret"}
    return ActionContext(
        action=seen.action,
        model="users",
        ids=[1, 2.5, "x"],
        inverse_ids=True,
        inputs={"subject": "Hi", "undeclared": [1]},
        params=PROBE_PARAMS,
        caller=Caller(
            auth_method="jwt",
            user_id="7",
            user_email="ada@example.com",
            project="shop",
            environment="prod",
            token="tok",
            claims=PROBE_CLAIMS,
        ),
        metadata=metadata,
        deadline=seen.deadline,
    )


def every_field(ctx: object) -> list[tuple[str, type, Any]]:
    return [
        (field.name, type(getattr(ctx, field.name)), getattr(ctx, field.name))
        for field in dataclasses.fields(ctx)  # type: ignore[arg-type]
    ]


@pytest.mark.parametrize("secret", [None, SECRET], ids=["no-secret", "secret"])
async def test_contexts_read_on_first_access_equal_constructed_ones(secret: str | None) -> None:
    app = ActionServer("lazy")
    seen: dict[str, tuple[ActionContext, list[tuple[str, type, Any]] | None]] = {}

    async def record(ctx: ActionContext, subject: str) -> None:
        # "inside": every field read while the call runs; "after": only once it has ended.
        seen[ctx.action] = (ctx, every_field(ctx) if "inside" in ctx.action else None)

    def record_sync(ctx: ActionContext, subject: str) -> None:
        seen[ctx.action] = (ctx, every_field(ctx) if "inside" in ctx.action else None)

    for name in ("async_inside", "async_after"):
        app.model_action("users", name=name, for_instance=True, bulk=True)(record)
    for name in ("sync_inside", "sync_after"):
        app.model_action("users", name=name, for_instance=True, bulk=True)(record_sync)
    running = await app.start(
        "127.0.0.1:0", bridge_secret=secret or "", health=False, reflection=False
    )
    async with running, grpc.aio.insecure_channel(running.address) as channel:
        stub = actions_pb2_grpc.ActionServiceStub(channel)
        for name in ("async_inside", "async_after", "sync_inside", "sync_after"):
            reply = await stub.ExecuteAction(probe_request(name), metadata=PROBE_METADATA)
            assert reply.result.value.bool_value
    for name, (ctx, inside) in seen.items():
        expected = constructed(ctx)
        if inside is not None:
            assert inside == every_field(expected), name
        assert every_field(ctx) == every_field(expected), name
        assert ctx == expected
        # Key order is the protobuf map's: the same context built by the constructor.
        assert repr(ctx) == repr(ActionContext(**{name: v for name, _, v in every_field(ctx)}))
        assert ctx.caller is not None
        assert every_field(ctx.caller) == every_field(expected.caller)
        assert ctx.params is ctx.params, "computed once, then kept"
        assert ctx.request_id == "probe-1"
        assert pickle.loads(pickle.dumps(ctx)) == expected
        assert copy.deepcopy(ctx) == expected
        assert dataclasses.replace(ctx, model="orders") == dataclasses.replace(
            expected, model="orders"
        )
        assert dataclasses.asdict(ctx) == dataclasses.asdict(expected)
        with pytest.raises(dataclasses.FrozenInstanceError):
            ctx.params = {}  # type: ignore[misc]
        with pytest.raises(AttributeError, match="no attribute 'nothing'"):
            ctx.nothing  # type: ignore[attr-defined]  # noqa: B018


async def test_field_contexts_read_on_first_access_equal_constructed_ones() -> None:
    app = ActionServer("lazy")
    seen: list[FieldContext] = []

    @app.field_options("orders", "city")
    async def cities(ctx: FieldContext) -> list[Option]:
        seen.append(ctx)
        return []

    request = actions_pb2.GetFieldOptionsRequest(model="orders", field="city")
    request.form.update({"country": "italy"})
    _convert.fill_struct(request.message_params, PROBE_PARAMS)
    running = await app.start("127.0.0.1:0", bridge_secret="", health=False, reflection=False)
    async with running, grpc.aio.insecure_channel(running.address) as channel:
        stub = actions_pb2_grpc.ActionServiceStub(channel)
        await stub.GetFieldOptions(request, metadata=PROBE_METADATA)
    ctx = seen[0]
    metadata: dict[str, str | bytes] = {"user-agent": ctx.metadata["user-agent"]}
    metadata |= {key: value for key, value in PROBE_METADATA if key != "x-jetbridge-secret"}
    expected = FieldContext(
        model="orders",
        field="city",
        form={"country": "italy"},
        params=PROBE_PARAMS,
        metadata=metadata,
        deadline=ctx.deadline,
    )
    assert every_field(ctx) == every_field(expected)
    assert ctx == expected
    assert repr(ctx) == repr(FieldContext(**{name: v for name, _, v in every_field(ctx)}))
    assert pickle.loads(pickle.dumps(ctx)) == expected


# --- the call's metadata, read from gRPC once ----------------------------------------------------


class MetadataProbe(HandWritten):
    """Compares, inside a real call, the view the servicer is handed with gRPC's context."""

    def __init__(self) -> None:
        self.compared: list[str] = []

    async def ExecuteAction(
        self, request: actions_pb2.ExecuteActionRequest, context: ExecuteContext
    ) -> actions_pb2.ExecuteActionResponse:
        view = MetadataOnce(context)
        plain = tuple((key, value) for key, value in context.invocation_metadata() or ())
        assert tuple(view.invocation_metadata()) == plain
        assert view.invocation_metadata() is view.invocation_metadata(), "asked once"
        assert view.request_id() == dict(plain).get("x-request-id", "")[:128]
        assert view.peer() == context.peer()
        remaining = view.time_remaining()
        assert remaining is not None
        assert abs(remaining - context.time_remaining()) < 1
        self.compared.append(request.action)
        if request.action == "abort-view":
            await view.abort(grpc.StatusCode.FAILED_PRECONDITION, "stop")
        if request.action == "abort-context":
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "stop")
        return actions_pb2.ExecuteActionResponse()


async def test_metadata_once_answers_as_the_grpc_context_does() -> None:
    probe = MetadataProbe()
    server = grpc.aio.server()
    actions_pb2_grpc.add_ActionServiceServicer_to_server(probe, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    ended: dict[str, tuple[Any, str]] = {}
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = actions_pb2_grpc.ActionServiceStub(channel)
            for action, metadata in (
                ("plain", PROBE_METADATA),
                ("long id", (("x-request-id", "r" * 300),)),
                ("none", ()),
                ("abort-view", PROBE_METADATA),
                ("abort-context", PROBE_METADATA),
            ):
                request = actions_pb2.ExecuteActionRequest(action=action)
                try:
                    await stub.ExecuteAction(request, metadata=metadata, timeout=30)
                    ended[action] = ("OK", "")
                except grpc.aio.AioRpcError as error:
                    ended[action] = (error.code(), error.details() or "")
    finally:
        await server.stop(0)
    assert probe.compared == ["plain", "long id", "none", "abort-view", "abort-context"]
    assert ended["abort-view"] == ended["abort-context"]
    assert ended["abort-view"][0] is grpc.StatusCode.FAILED_PRECONDITION


def test_a_request_id_read_on_the_first_line_is_the_one_given_at_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reads: list[int] = []

    def read() -> str:
        reads.append(1)
        return "req-lazy"

    caplog.set_level(logging.INFO, logger="jetactions")
    lines = []
    for request_id in ("req-lazy", read):
        token = _logs.bind_call(request_id, "echo")
        try:
            assert not reads or request_id == "req-lazy"
            _logs.logger.info("first")
            _logs.logger.info("second")
        finally:
            _logs.unbind_call(token)
        lines.append(
            [(r.getMessage(), r.request_id, r.action) for r in caplog.records]  # type: ignore[attr-defined]
        )
        caplog.clear()
    assert lines[0] == lines[1] == [("first", "req-lazy", "echo"), ("second", "req-lazy", "echo")]
    assert reads == [1], "read on the first line, then kept"


async def test_a_sync_handlers_log_line_carries_the_request_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = ActionServer("lazy")

    @app.common_action(name="log_from_thread")
    def log_from_thread(ctx: ActionContext) -> None:
        _logs.logger.info("from %s", threading.current_thread().name)

    caplog.set_level(logging.INFO, logger="jetactions")
    running = await app.start("127.0.0.1:0", bridge_secret="", health=False, reflection=False)
    async with running, grpc.aio.insecure_channel(running.address) as channel:
        stub = actions_pb2_grpc.ActionServiceStub(channel)
        request = actions_pb2.ExecuteActionRequest(action="log_from_thread")
        await stub.ExecuteAction(request, metadata=(("x-request-id", "req-thread"),))
    lines = [r for r in caplog.records if r.getMessage().startswith("from jetactions-lazy")]
    assert [(r.request_id, r.action) for r in lines] == [("req-thread", "log_from_thread")]  # type: ignore[attr-defined]


# --- conversions on every call -----------------------------------------------------------------


def reference_from_value(value: struct_pb2.Value) -> Any:
    """The straightforward reading (contract.from_value before it was tuned)."""
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return value.string_value
    if kind == "number_value":
        return _convert.number(value.number_value)
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        return {key: reference_from_value(item) for key, item in value.struct_value.fields.items()}
    if kind == "list_value":
        return [reference_from_value(item) for item in value.list_value.values]
    return None


scalars = (
    st.none()
    | st.booleans()
    | st.text(max_size=10)
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def typed(value: Any) -> Any:
    """``value`` with each leaf's type next to it: 1 and 1.0 compare equal, and must not."""
    if isinstance(value, dict):
        return {key: typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [typed(item) for item in value]
    return (type(value), value)


@given(json_values)
@settings(max_examples=200)
def test_reading_values_gives_what_the_straightforward_reading_gives(data: Any) -> None:
    value = json_format.ParseDict(data, struct_pb2.Value())
    assert typed(contract.from_value(value)) == typed(reference_from_value(value))
    struct = json_format.ParseDict({"k": data, "other": [data]}, struct_pb2.Struct())
    wrapped = struct_pb2.Value(struct_value=struct)
    assert typed(contract.from_struct(struct)) == typed(reference_from_value(wrapped))


def reference_ids(values: list[struct_pb2.Value]) -> list[Any] | None:
    """The servicer's straightforward reading of ids (before it was tuned)."""
    ids = []
    for value in values:
        item = contract.from_value(value)
        if isinstance(item, bool) or not isinstance(item, int | float | str):
            return None
        ids.append(item)
    return ids


@pytest.mark.parametrize(
    "ids",
    [[], [1, 2], [2.5, "x", 2**60, -0.0], [True], [1, None], [{"a": 1}], [[1]], ["1", 1]],
    ids=str,
)
def test_ids_are_read_as_the_straightforward_reading_reads_them(ids: list[Any]) -> None:
    values = [json_format.ParseDict(item, struct_pb2.Value()) for item in ids]
    values.append(struct_pb2.Value()) if ids == [1, None] else None
    expected = reference_ids(values)
    ours = _servicer._ids(values)
    assert (None if ours is None else typed(ours)) == (
        None if expected is None else typed(expected)
    )


class SubResult(Result):
    """Takes the general path of ``_outcome`` (``isinstance``), not the exact-type one."""


@pytest.mark.parametrize(
    "result",
    [
        Result(),
        Result(value=False, message="m"),
        Result(value={"a": [1, 2]}, html="<b>x</b>", extra={"k": 1}),
        Result(value=float("nan")),
        Result(message=5),  # type: ignore[arg-type]
    ],
    ids=repr,
)
def test_a_result_maps_as_a_result_subclass_does(result: Result) -> None:
    def mapped(value: Result) -> Any:
        try:
            return _servicer._outcome(value).SerializeToString(deterministic=True)
        except _convert.UnsendableValue as error:
            return ("unsendable", str(error))

    sub = SubResult(result.value, result.message, result.html, result.extra)
    assert mapped(result) == mapped(sub)


def test_answers_checked_by_type_are_never_awaitable() -> None:
    examples: list[object] = [None, True, 1, 1.5, "x", {}, [], Result(), File("a.txt", "x")]
    assert {type(example) for example in examples} == _servicer._PLAIN_ANSWERS
    for example in examples:
        assert not inspect.isawaitable(example)
        assert not hasattr(type(example), "__await__")
