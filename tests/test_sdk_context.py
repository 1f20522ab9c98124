"""What a handler knows about its call: ActionContext, FieldContext, current()."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import grpc
import pytest

from jetactions import (
    ActionContext,
    ActionError,
    ActionServer,
    Caller,
    FieldContext,
    Option,
    context,
)
from jetactions.context import Selection, SelectionKind
from jetactions.testing import ActionTester, SyncActionTester

# --- context --------------------------------------------------------------------------


async def test_action_context_carries_the_request() -> None:
    app = ActionServer()
    seen: list[ActionContext] = []

    @app.model_action("users", for_instance=True, bulk=True)
    async def inspect_ctx(ctx: ActionContext, subject: str) -> None:
        seen.append(ctx)

    caller = Caller(
        auth_method="jwt",
        user_id="42",
        user_email="ada@example.com",
        project="shop",
        environment="prod",
        token="tok",
        claims={"admin": True, "projects": {"shop": {}}},
    )
    await ActionTester(app).execute(
        "inspect_ctx",
        model="users",
        ids=[1, 2.5, "8d3f-uuid"],
        inverse_ids=True,
        inputs={"subject": "Hi", "undeclared": [1]},
        params={"name": "inspect_ctx", "model": "users", "future_key": {"x": 1}},
        caller=caller,
        metadata={"x-request-id": "abc", "x-jetbridge-secret": "hidden"},
    )
    ctx = seen[0]
    assert ctx.action == "inspect_ctx"
    assert ctx.model == "users"
    assert ctx.ids == [1, 2.5, "8d3f-uuid"]
    assert [type(i) for i in ctx.ids] == [int, float, str], "ids keep their JSON type"
    assert ctx.id == 1
    assert ctx.inverse_ids is True
    assert ctx.inputs == {"subject": "Hi", "undeclared": [1]}
    assert ctx.params == {"name": "inspect_ctx", "model": "users", "future_key": {"x": 1}}
    assert ctx.caller == caller
    assert ctx.metadata == {"x-request-id": "abc"}, "the bridge secret never reaches handlers"
    assert ctx.time_remaining() is None


async def test_context_defaults_without_ids_or_caller() -> None:
    app = ActionServer()
    seen: list[ActionContext] = []

    @app.common_action
    async def bare(ctx: ActionContext) -> None:
        seen.append(ctx)

    await ActionTester(app).execute("bare")
    assert seen[0].ids == []
    assert seen[0].id is None
    assert seen[0].caller is None
    assert seen[0].params == {"name": "bare", "params": {}}


async def test_time_remaining_reflects_the_deadline() -> None:
    app = ActionServer()

    @app.common_action
    async def remaining(ctx: ActionContext) -> float | None:
        return ctx.time_remaining()

    @app.common_action
    async def too_slow(ctx: ActionContext) -> None:
        await asyncio.sleep(5)

    tester = ActionTester(app)
    value = (await tester.execute("remaining", timeout=3)).value
    assert isinstance(value, float)
    assert 2.5 < value <= 3
    with pytest.raises(ActionError) as raised:
        await tester.execute("too_slow", timeout=0.05)
    assert raised.value.code is grpc.StatusCode.DEADLINE_EXCEEDED


async def test_sync_handlers_run_in_a_worker_thread_async_on_the_loop() -> None:
    app = ActionServer()
    threads: dict[str, int] = {}

    @app.common_action
    def sync_action(ctx: ActionContext) -> None:
        threads["sync"] = threading.get_ident()

    @app.common_action
    async def async_action(ctx: ActionContext) -> None:
        threads["async"] = threading.get_ident()

    @app.field_options("orders", "city")
    def sync_options(ctx: FieldContext) -> list[Option]:
        threads["options"] = threading.get_ident()
        return []

    tester = ActionTester(app)
    await tester.execute("sync_action")
    await tester.execute("async_action")
    await tester.field_options("orders", "city")
    loop_thread = threading.get_ident()
    assert threads["async"] == loop_thread
    assert threads["sync"] != loop_thread
    assert threads["options"] != loop_thread


async def test_current_context_is_reachable_from_helpers_and_threads() -> None:
    app = ActionServer()
    seen: list[tuple[object, object, object]] = []

    def helper() -> str:
        ctx = context.current()
        assert isinstance(ctx, ActionContext)
        return ctx.action

    @app.common_action
    def sync_action(ctx: ActionContext) -> None:
        seen.append((ctx, context.current(), helper()))

    @app.common_action
    async def async_action(ctx: ActionContext) -> None:
        await asyncio.sleep(0)
        seen.append((ctx, context.current(), helper()))

    @app.field_options("orders", "city")
    async def options(ctx: FieldContext) -> list[Option]:
        seen.append((ctx, context.current(), ctx.form))
        return []

    tester = ActionTester(app)
    await tester.execute("sync_action")
    await tester.execute("async_action")
    await tester.field_options("orders", "city", {"country": "uk"})
    for ctx, current, _ in seen:
        assert current is ctx
    assert [extra for _, _, extra in seen] == ["sync_action", "async_action", {"country": "uk"}]
    with pytest.raises(RuntimeError, match="outside a handler"):
        context.current()


async def test_registrations_after_start_are_refused() -> None:
    app = ActionServer()
    running = await app.start("127.0.0.1:0", health=False, reflection=False)
    try:
        with pytest.raises(RuntimeError, match="has started"):
            app.common_action(_noop)
    finally:
        await running.stop(0)


async def _noop(ctx: ActionContext) -> None:
    pass


# --- the selection -------------------------------------------------------------------------


async def _selection_of(**call: Any) -> Selection:
    app = ActionServer()
    seen: list[Selection] = []

    @app.model_action("users", for_instance=True, bulk=True)
    async def pick(ctx: ActionContext) -> None:
        seen.append(ctx.selection)

    await ActionTester(app).execute("pick", model="users", **call)
    return seen[0]


async def test_selection_says_what_ids_mean() -> None:
    users = [1, 2, 3, 4, 5]
    none = await _selection_of()
    assert none == Selection(SelectionKind.NONE)
    assert none.select(users) == []
    assert 1 not in none

    some = await _selection_of(ids=[1, "3"])
    assert some == Selection(SelectionKind.IDS, (1, "3"))
    assert some.select(users) == [1, 3]
    assert 3 in some
    assert "1" in some
    assert 2 not in some

    # Jet's "select all, then untick 1 and 3": len(ctx.ids) would say 2, the answer is 3.
    inverse = await _selection_of(ids=[1, "3"], inverse_ids=True)
    assert inverse.kind is SelectionKind.ALL_EXCEPT
    assert inverse.select(users) == [2, 4, 5]
    assert 2 in inverse
    assert 3 not in inverse
    everyone = await _selection_of(inverse_ids=True)
    assert everyone.select(users) == users


def test_selection_selects_records_by_key() -> None:
    records = [{"id": 1, "name": "Ada"}, {"id": 2, "name": "Brian"}]
    selection = Selection.of(["2"], inverse_ids=False)
    assert selection.select(records, key=lambda record: record["id"]) == [records[1]]


# --- ActionTester: deadlines, and the sync form --------------------------------------------


async def test_tester_honours_the_declared_timeout() -> None:
    app = ActionServer()
    remaining: list[float | None] = []

    @app.common_action(timeout=0.2)
    async def slow(ctx: ActionContext) -> None:
        remaining.append(ctx.time_remaining())
        await asyncio.sleep(30)

    @app.common_action(timeout=30)
    async def patient(ctx: ActionContext) -> None:
        remaining.append(ctx.time_remaining())
        await asyncio.sleep(30)

    tester = ActionTester(app)
    with pytest.raises(ActionError) as raised:
        await tester.execute("slow")  # no timeout from the caller: the action's applies
    assert (raised.value.code, raised.value.message) == (
        grpc.StatusCode.DEADLINE_EXCEEDED,
        "action 'slow' did not finish within its timeout of 0.2 s",
    )
    # The caller's deadline applies when it is sooner.
    with pytest.raises(ActionError) as raised:
        await tester.execute("patient", timeout=0.1)
    assert raised.value.code is grpc.StatusCode.DEADLINE_EXCEEDED
    first, second = remaining
    assert first is not None
    assert 0 < first <= 0.2
    assert second is not None
    assert 0 < second <= 0.1


def test_sync_tester_runs_actions_from_plain_tests() -> None:
    app = ActionServer()

    @app.common_action
    def refresh(ctx: ActionContext) -> str:
        return threading.current_thread().name

    @app.field_options("orders", "city")
    async def cities(ctx: FieldContext) -> list[Option]:
        return [Option("rome", "Rome")]

    with SyncActionTester(app) as tester:
        assert [d.name for d in tester.list_actions()] == ["refresh"]
        outcome = tester.execute("refresh")
        assert isinstance(outcome.value, str)
        assert outcome.value.startswith("jetactions-actions-")
        assert tester.field_options("orders", "city") == [Option("rome", "Rome")]
        with pytest.raises(ActionError, match="NOT_FOUND"):
            tester.execute("nope")
