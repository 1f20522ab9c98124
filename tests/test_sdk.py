"""The Python SDK in-process, through ActionTester: declarations, inputs, outcomes, context."""

from __future__ import annotations

import asyncio
import datetime
import enum
import importlib.util
import logging
import sys
import threading
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any, Literal, Optional

import grpc
import pytest
from google.protobuf import json_format

import jetactions
from jetactions import (
    ActionContext,
    ActionError,
    ActionServer,
    Caller,
    FieldContext,
    FieldErrors,
    FieldType,
    File,
    Option,
    Param,
    Result,
    _convert,
    context,
)
from jetactions.testing import ActionTester, Outcome
from jetactions.v1 import actions_pb2

SHOP = Path(__file__).resolve().parent.parent / "examples" / "python" / "shop.py"


def load_shop() -> ModuleType:
    """Imports examples/python/shop.py (a script, not a package)."""
    spec = importlib.util.spec_from_file_location("jetactions_example_shop", SHOP)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Dataclasses look their module up in sys.modules while the module runs.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def params_of(listing: actions_pb2.ListActionsResponse, action: str) -> dict[str, Any]:
    """The action's form params as JSON dicts keyed by name (proto3 JSON names)."""
    for entry in listing.actions:
        if entry.name == action:
            return {
                param.name: json_format.MessageToDict(param, preserving_proto_field_name=True)
                for param in entry.params
            }
    raise AssertionError(f"no action {action!r}")


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Size(enum.IntEnum):
    SMALL = 1
    LARGE = 2


# --- declarations: signature -> Jet form ---------------------------------------------------


async def test_every_supported_annotation_maps_to_a_jet_field() -> None:
    app = ActionServer()

    @app.common_action
    async def everything(
        ctx: ActionContext,
        text: str,
        count: int,
        ratio: float,
        price: Decimal,
        flag: bool,
        when: datetime.datetime,
        day: datetime.date,
        at: datetime.time,
        doc: dict[str, Any],
        items: list[int],
        raw_doc: dict,  # type: ignore[type-arg]
        raw_items: list,  # type: ignore[type-arg]
        mode: Literal["fast", "slow"],
        color: Color,
        maybe: int | None,
        legacy: Optional[str],  # noqa: UP045 - the old spelling must work too
    ) -> None:
        pass

    params = params_of(await ActionTester(app).list_actions(), "everything")
    fields = {name: param["field"] for name, param in params.items()}
    assert fields == {
        "text": "FIELD_TYPE_CHAR",
        "count": "FIELD_TYPE_INTEGER",
        "ratio": "FIELD_TYPE_FLOAT",
        "price": "FIELD_TYPE_DECIMAL",
        "flag": "FIELD_TYPE_BOOLEAN",
        "when": "FIELD_TYPE_DATE_TIME",
        "day": "FIELD_TYPE_DATE",
        "at": "FIELD_TYPE_TIME",
        "doc": "FIELD_TYPE_JSON",
        "items": "FIELD_TYPE_JSON",
        "raw_doc": "FIELD_TYPE_JSON",
        "raw_items": "FIELD_TYPE_JSON",
        "mode": "FIELD_TYPE_SELECT",
        "color": "FIELD_TYPE_SELECT",
        "maybe": "FIELD_TYPE_INTEGER",
        "legacy": "FIELD_TYPE_CHAR",
    }
    assert list(params) == list(fields), "the form keeps the signature's order"
    required = {name for name, param in params.items() if param.get("required")}
    assert required == set(fields) - {"maybe", "legacy"}
    assert params["mode"]["options"] == [
        {"value": "fast", "name": "fast"},
        {"value": "slow", "name": "slow"},
    ]
    assert params["color"]["options"] == [
        {"value": "red", "name": "RED"},
        {"value": "green", "name": "GREEN"},
    ]


async def test_defaults_become_optional_inputs_and_form_defaults() -> None:
    app = ActionServer()
    sentinel = object()

    @app.common_action
    async def defaults(
        ctx: ActionContext,
        subject: str = "Hello",
        count: int = 3,
        urgent: bool = False,
        price: Decimal = Decimal("1.50"),
        day: datetime.date = datetime.date(2024, 5, 6),
        color: Color = Color.GREEN,
        size: Size = Size.LARGE,
        tags: list[str] | None = None,
        opaque: Annotated[str, Param(field="JSONField")] = sentinel,  # type: ignore[assignment]
    ) -> None:
        pass

    params = params_of(await ActionTester(app).list_actions(), "defaults")
    assert not any(param.get("required") for param in params.values())
    starting = {name: param.get("default_value") for name, param in params.items()}
    assert starting == {
        "subject": "Hello",
        "count": 3,
        "urgent": False,
        "price": "1.50",  # exact, as a string
        "day": "2024-05-06",
        "color": "green",
        "size": 2,
        "tags": None,  # None: no form default
        "opaque": None,  # not JSON-representable: no form default
    }


async def test_annotated_param_refines_the_inferred_input() -> None:
    app = ActionServer()

    @app.model_action("orders")
    async def refine(
        ctx: ActionContext,
        body: Annotated[str, Param(field="TextField", label="Body", description="Markdown")],
        customer: Annotated[int, Param(field=FieldType.FOREIGN_KEY, related_model="users")],
        city: Annotated[str, Param(options_from_server=True)],
        carrier: Annotated[str, Param(options=[Option("dhl", "DHL", "yellow")])],
        mode: Annotated[
            Literal["a", "b"], Param(options=[Option("a", "Alpha"), Option("b", "Beta")])
        ],
        code: Annotated[str, Param(field=actions_pb2.FIELD_TYPE_CODE, extra={"language": "sql"})],
        note: Annotated[str | None, Param(required=True)] = None,
    ) -> None:
        pass

    params = params_of(await ActionTester(app).list_actions(), "refine")
    assert params["body"] == {
        "name": "body",
        "field": "FIELD_TYPE_TEXT",
        "required": True,
        "label": "Body",
        "description": "Markdown",
    }
    assert params["customer"]["field"] == "FIELD_TYPE_FOREIGN_KEY"
    assert params["customer"]["related_model"] == "users"
    assert params["city"] == {
        "name": "city",
        "field": "FIELD_TYPE_SELECT",
        "required": True,
        "options_from_server": True,
    }
    assert params["carrier"]["field"] == "FIELD_TYPE_SELECT"
    assert params["carrier"]["options"] == [{"value": "dhl", "name": "DHL", "color": "yellow"}]
    assert [o["name"] for o in params["mode"]["options"]] == ["Alpha", "Beta"]
    assert params["code"]["field"] == "FIELD_TYPE_CODE"
    assert params["code"]["extra"] == {"language": "sql"}
    assert params["note"]["required"] is True


async def test_explicit_params_override_by_name_and_add_inputs() -> None:
    app = ActionServer()
    seen: list[ActionContext] = []

    @app.common_action(
        params=[
            Param("subject", label="Subject line", field="TextField"),
            Param("cc", field="CharField", label="Copy to"),
            Param("priority", field="IntegerField", required=True),
            Param("channel", options=[Option("mail", "Mail"), Option("sms", "SMS")]),
        ]
    )
    async def announce(ctx: ActionContext, subject: str) -> str:
        seen.append(ctx)
        return subject

    tester = ActionTester(app)
    params = params_of(await tester.list_actions(), "announce")
    assert list(params) == ["subject", "cc", "priority", "channel"]
    assert params["subject"]["label"] == "Subject line"
    assert params["subject"]["field"] == "FIELD_TYPE_TEXT"
    assert params["cc"].get("required", False) is False, "params-only inputs default to optional"
    assert params["priority"]["required"] is True
    assert params["channel"]["field"] == "FIELD_TYPE_SELECT"

    outcome = await tester.execute(
        "announce", inputs={"subject": "Hi", "cc": "a@b.c", "priority": "2", "channel": "sms"}
    )
    assert outcome.value == "Hi"
    # Params-only inputs are validated but reach the handler only through ctx.inputs, raw.
    assert seen[0].inputs == {"subject": "Hi", "cc": "a@b.c", "priority": "2", "channel": "sms"}

    outcome = await tester.execute("announce", inputs={"subject": "Hi", "channel": "fax"})
    assert outcome.errors == {
        "priority": ["This field is required."],
        "channel": ["Select a valid choice. fax is not one of the available choices."],
    }
    assert len(seen) == 1


async def test_action_kinds_and_options_reach_list_actions() -> None:
    app = ActionServer()

    @app.model_action(
        "users",
        "staff",
        for_instance=True,
        bulk=True,
        name="mail",
        label="Mail users",
        icon="email",
        description="Sends a mail",
        timeout=2.5,
        idempotent=True,
    )
    async def mail_users(ctx: ActionContext) -> None:
        pass

    @app.model_action("users", timeout=datetime.timedelta(minutes=1))
    async def export(ctx: ActionContext) -> None:
        pass

    @app.common_action(label="Refresh stats")
    def refresh_stats(ctx: ActionContext) -> bool:
        return True

    @app.field_options("orders", "city")
    def cities(ctx: FieldContext) -> list[Option]:
        return []

    listing = await ActionTester(app).list_actions()
    assert json_format.MessageToDict(listing, preserving_proto_field_name=True) == {
        "actions": [
            {
                "name": "mail",
                "label": "Mail users",
                "icon": "email",
                "description": "Sends a mail",
                "model_action": {"models": ["users", "staff"], "for_instance": True, "bulk": True},
                "timeout": "2.500s",
                "idempotent": True,
            },
            {"name": "export", "model_action": {"models": ["users"]}, "timeout": "60s"},
            {"name": "refresh_stats", "label": "Refresh stats", "common_action": {}},
        ],
        "field_options": [{"model": "orders", "field": "city"}],
    }


def test_decorators_return_the_function_unchanged() -> None:
    app = ActionServer()

    async def handler(ctx: ActionContext) -> None:
        pass

    def options(ctx: FieldContext) -> list[Option]:
        return []

    assert app.model_action("users")(handler) is handler
    assert app.common_action(name="other")(handler) is handler
    assert app.field_options("orders", "city")(options) is options
    assert app.actions["handler"].handler is handler
    assert app.actions["handler"].is_async
    assert not app.field_option_sources[("orders", "city")].is_async


def test_duplicate_action_name_fails_at_decoration() -> None:
    app = ActionServer()

    @app.common_action
    async def ping(ctx: ActionContext) -> None:
        pass

    with pytest.raises(ValueError, match="duplicate action name 'ping'"):

        @app.model_action("users", name="ping")
        async def other(ctx: ActionContext) -> None:
            pass

    # Another server is another registry: no global state.
    ActionServer().common_action(ping)


def test_duplicate_field_options_fail_at_decoration() -> None:
    app = ActionServer()
    app.field_options("orders", "city")(lambda ctx: [])
    with pytest.raises(ValueError, match="already declared"):
        app.field_options("orders", "city")(lambda ctx: [])


class Opaque:
    pass


@pytest.mark.parametrize(
    ("annotation", "message"),
    [
        (Opaque, "parameter 'value': unsupported type Opaque"),
        (set[int], "parameter 'value': unsupported type"),
        (int | str, "parameter 'value': unions other than"),
        (Literal[b"x"], "parameter 'value': Literal values"),
    ],
)
def test_unsupported_annotation_fails_at_decoration(annotation: object, message: str) -> None:
    async def handler(ctx: ActionContext, value: int) -> None:
        pass

    handler.__annotations__["value"] = annotation
    with pytest.raises(TypeError, match=message):
        ActionServer().common_action(handler)


def test_bad_signatures_fail_at_decoration() -> None:
    app = ActionServer()

    async def no_context() -> None:
        pass

    async def unannotated(ctx: ActionContext, value) -> None:  # type: ignore[no-untyped-def]
        pass

    async def var_keyword(ctx: ActionContext, **rest: str) -> None:
        pass

    async def not_required(
        ctx: ActionContext, value: Annotated[int, Param(required=False)]
    ) -> None:
        pass

    async def misnamed(ctx: ActionContext, value: Annotated[int, Param("other")]) -> None:
        pass

    with pytest.raises(TypeError, match="first parameter must take the context"):
        app.common_action(no_context)
    with pytest.raises(TypeError, match="parameter 'value': needs a type annotation"):
        app.common_action(unannotated)
    with pytest.raises(TypeError, match=r"parameter 'rest': \*args and \*\*kwargs"):
        app.common_action(var_keyword)
    with pytest.raises(TypeError, match="required=False needs a default"):
        app.common_action(not_required)
    with pytest.raises(ValueError, match="names another input"):
        app.common_action(misnamed)
    with pytest.raises(TypeError, match="one FieldContext"):
        app.field_options("orders", "city")(no_context)
    assert not app.actions


def test_bad_declarations_fail_where_they_are_written() -> None:
    app = ActionServer()
    with pytest.raises(ValueError, match="at least one model"):
        app.model_action()
    with pytest.raises(ValueError, match="timeout must be positive"):
        app.common_action(timeout=0)
    with pytest.raises(ValueError, match="unknown field type 'Textfield'"):
        Param("body", field="Textfield")
    with pytest.raises(ValueError, match="twice"):
        app.common_action(params=[Param("a"), Param("a")])(_noop)
    with pytest.raises(ValueError, match="needs a name"):
        app.common_action(params=[Param(label="nameless")])(_noop)
    for unrepresentable in (
        Param("a", default=object()),
        Param("a", options=[Option(object(), "x")]),
        Param("a", extra={"x": {1, 2}}),
    ):
        with pytest.raises(TypeError, match=r"param .a.: (set|object) is not"):
            app.common_action(params=[unrepresentable])(_noop)
    assert not app.actions


async def _noop(ctx: ActionContext) -> None:
    pass


# --- inputs: conversion and validation ------------------------------------------------------


class Recorder:
    """An app with one action per type that records what the handler receives."""

    def __init__(self) -> None:
        self.app = ActionServer()
        self.calls: list[dict[str, Any]] = []
        self.tester = ActionTester(self.app)

    def action(self, name: str, annotation: object, **declared: Any) -> None:
        async def handler(ctx: ActionContext, value: Any) -> None:
            self.calls.append({"value": value})

        handler.__annotations__["value"] = annotation
        self.app.common_action(name=name, **declared)(handler)

    async def run(self, name: str, raw: object) -> Outcome:
        return await self.tester.execute(name, inputs={"value": raw})


@pytest.fixture
def recorder() -> Recorder:
    r = Recorder()
    r.action("int", int)
    r.action("float", float)
    r.action("decimal", Decimal)
    r.action("bool", bool)
    r.action("datetime", datetime.datetime)
    r.action("date", datetime.date)
    r.action("time", datetime.time)
    r.action("literal", Literal["a", "b"])
    r.action("literal_int", Literal[1, 2])
    r.action("enum", Color)
    r.action("int_enum", Size)
    r.action("dict", dict[str, Any])
    r.action("list", list[int])
    r.action("str", str)
    return r


UTC = datetime.UTC


@pytest.mark.parametrize(
    ("action", "raw", "expected"),
    [
        ("int", 5, 5),
        ("int", 5.0, 5),
        ("int", "42", 42),
        ("int", " -3 ", -3),
        ("float", 2.5, 2.5),
        ("float", 3, 3.0),
        ("float", "1e3", 1000.0),
        ("float", "-0.25", -0.25),
        ("decimal", "0.1", Decimal("0.1")),
        ("decimal", 0.1, Decimal("0.1")),
        ("decimal", 7, Decimal("7")),
        ("decimal", "12.50", Decimal("12.50")),
        ("bool", True, True),
        ("bool", False, False),
        ("bool", "true", True),
        ("bool", "False", False),
        ("bool", "1", True),
        ("bool", "0", False),
        ("datetime", "2024-05-06T07:08:09Z", datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)),
        ("datetime", "2024-05-06T07:08:09", datetime.datetime(2024, 5, 6, 7, 8, 9)),
        ("date", "2024-05-06", datetime.date(2024, 5, 6)),
        ("time", "07:08", datetime.time(7, 8)),
        ("time", "07:08:09Z", datetime.time(7, 8, 9, tzinfo=UTC)),
        ("literal", "b", "b"),
        ("literal_int", "2", 2),
        ("literal_int", 1, 1),
        ("enum", "green", Color.GREEN),
        ("int_enum", "2", Size.LARGE),
        ("dict", {"a": [1, 2]}, {"a": [1, 2]}),
        ("dict", '{"a": 1}', {"a": 1}),
        ("list", [1, "x"], [1, "x"]),
        ("list", "[1, 2]", [1, 2]),
        ("str", "hello", "hello"),
        ("str", 12, "12"),
    ],
)
async def test_inputs_are_converted_before_the_handler_runs(
    recorder: Recorder, action: str, raw: object, expected: object
) -> None:
    outcome = await recorder.run(action, raw)
    assert outcome.errors is None
    assert recorder.calls == [{"value": expected}]
    assert type(recorder.calls[0]["value"]) is type(expected)


@pytest.mark.parametrize(
    ("action", "raw", "message"),
    [
        ("int", True, "Enter a whole number."),
        ("int", 4.5, "Enter a whole number."),
        ("int", "4.5", "Enter a whole number."),
        ("int", "abc", "Enter a whole number."),
        ("int", [1], "Enter a whole number."),
        ("float", "nan", "Enter a number."),
        ("float", "inf", "Enter a number."),
        ("float", "1_000", "Enter a number."),
        ("float", False, "Enter a number."),
        ("decimal", "NaN", "Enter a number."),
        ("decimal", "Infinity", "Enter a number."),
        ("decimal", "1,5", "Enter a number."),
        ("decimal", True, "Enter a number."),
        ("bool", "yes", "Enter true or false."),
        ("bool", 2, "Enter true or false."),
        ("datetime", "yesterday", "Enter a valid date/time."),
        ("datetime", 1700000000, "Enter a valid date/time."),
        ("date", "2024-13-01", "Enter a valid date."),
        ("time", "25:00", "Enter a valid time."),
        ("literal", "c", "Select a valid choice. c is not one of the available choices."),
        ("literal_int", True, "Select a valid choice. True is not one of the available choices."),
        ("enum", "RED", "Select a valid choice. RED is not one of the available choices."),
        ("dict", [1], "Enter a JSON object."),
        ("dict", "{oops", "Enter a valid JSON."),
        ("list", {"a": 1}, "Enter a JSON list."),
        ("str", {"a": 1}, "Enter a valid text."),
        ("str", True, "Enter a valid text."),
    ],
)
async def test_invalid_inputs_return_field_errors_and_skip_the_handler(
    recorder: Recorder, action: str, raw: object, message: str
) -> None:
    outcome = await recorder.run(action, raw)
    assert outcome == Outcome(value=False, errors={"value": [message]})
    assert recorder.calls == [], "the handler must not run"


async def test_float_nan_from_the_wire_is_refused() -> None:
    # JSON cannot carry NaN, but a protobuf Value can; it must not reach a handler.
    r = Recorder()
    r.action("float", float)
    request = actions_pb2.ExecuteActionRequest(action="float")
    request.inputs.fields["value"].number_value = float("nan")
    response = await r.tester.servicer.ExecuteAction(request, _Context())
    assert response.errors.fields["value"].messages == ["Enter a number."]
    assert r.calls == []


class _Context:
    async def abort(self, code: grpc.StatusCode, details: str = "") -> Any:
        raise ActionError(code, details)

    def time_remaining(self) -> float | None:
        return None

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return ()


async def test_all_errors_are_collected_at_once() -> None:
    app = ActionServer()
    calls: list[object] = []

    @app.common_action
    async def form(ctx: ActionContext, subject: str, amount: Decimal, day: datetime.date) -> None:
        calls.append(ctx)

    outcome = await ActionTester(app).execute("form", inputs={"amount": "x", "day": "never"})
    assert outcome.errors == {
        "subject": ["This field is required."],
        "amount": ["Enter a number."],
        "day": ["Enter a valid date."],
    }
    assert calls == []


async def test_missing_empty_and_null_inputs() -> None:
    app = ActionServer()
    calls: list[dict[str, object]] = []

    @app.common_action
    async def optional(
        ctx: ActionContext,
        subject: str,
        count: int = 7,
        limit: int | None = None,
        note: str = "none",
        maybe: Decimal | None = None,
        mode: Literal["a", "b"] | None = None,
    ) -> None:
        calls.append(
            {
                "subject": subject,
                "count": count,
                "limit": limit,
                "note": note,
                "maybe": maybe,
                "mode": mode,
            }
        )

    tester = ActionTester(app)
    # "" for an optional non-text input means "not given"; for text it is a value.
    outcome = await tester.execute(
        "optional",
        inputs={"subject": "s", "count": "", "limit": None, "note": "", "maybe": "", "mode": ""},
    )
    assert outcome.errors is None
    assert calls.pop() == {
        "subject": "s",
        "count": 7,
        "limit": None,
        "note": "",
        "maybe": None,
        "mode": None,
    }
    # A required text input refuses "" and null alike.
    for missing in ("", None):
        outcome = await tester.execute("optional", inputs={"subject": missing})
        assert outcome.errors == {"subject": ["This field is required."]}
    assert calls == []


async def test_required_non_text_input_refuses_empty_string() -> None:
    app = ActionServer()

    @app.common_action
    async def amount(ctx: ActionContext, value: Decimal) -> None:
        raise AssertionError("not called")

    outcome = await ActionTester(app).execute("amount", inputs={"value": ""})
    assert outcome.errors == {"value": ["This field is required."]}


# --- outcomes ---------------------------------------------------------------------------


async def outcome_of(returned: object) -> Outcome:
    app = ActionServer()

    @app.common_action
    async def give(ctx: ActionContext) -> object:
        return returned

    return await ActionTester(app).execute("give")


@pytest.mark.parametrize(
    ("returned", "expected"),
    [
        (None, Outcome(value=True)),
        (True, Outcome(value=True)),
        (False, Outcome(value=False)),
        ({"message": "Done"}, Outcome(value=True, message="Done")),
        (
            {"result": False, "html": "<b>no</b>", "count": 3, "tags": ["a"]},
            Outcome(value=False, html="<b>no</b>", extra={"count": 3, "tags": ["a"]}),
        ),
        (
            Result(message="m", html="h", extra={"k": {"n": None}}),
            Outcome(value=True, message="m", html="h", extra={"k": {"n": None}}),
        ),
        (Result(value=[1, "two"]), Outcome(value=[1, "two"])),
        ("text", Outcome(value="text")),
        (42, Outcome(value=42)),
        (2.5, Outcome(value=2.5)),
        ([1, 2], Outcome(value=[1, 2])),
        (Decimal("1.10"), Outcome(value="1.10")),
    ],
)
async def test_return_values_map_to_jet_results(returned: object, expected: Outcome) -> None:
    assert await outcome_of(returned) == expected


@pytest.mark.parametrize(
    ("file", "content", "content_type"),
    [
        (File("users.csv", "id\n1\n"), b"id\n1\n", "text/csv"),
        (File("report.pdf", b"%PDF"), b"%PDF", "application/pdf"),
        (File("blob", b"\x00\x01"), b"\x00\x01", "application/octet-stream"),
        (
            File("data.txt", "é", "text/plain; charset=utf-8"),
            "é".encode(),
            "text/plain; charset=utf-8",
        ),
    ],
)
async def test_file_outcome(file: File, content: bytes, content_type: str) -> None:
    outcome = await outcome_of(file)
    assert outcome == Outcome(value=None, file=File(file.filename, content, content_type))


async def test_unrepresentable_return_value_is_an_internal_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with pytest.raises(ActionError) as raised:
        await outcome_of(object())
    assert raised.value.code is grpc.StatusCode.INTERNAL
    assert raised.value.message == "action give failed"
    assert "is not JSON-representable" in caplog.text


async def test_field_errors_raised_by_the_handler() -> None:
    app = ActionServer()

    @app.common_action
    async def many(ctx: ActionContext) -> None:
        raise FieldErrors({"amount": ["must be positive", "too small"]}, non_field_errors=["no"])

    @app.common_action
    async def single(ctx: ActionContext) -> None:
        raise FieldErrors.single("amount", "must be positive")

    @app.common_action
    async def general(ctx: ActionContext) -> None:
        raise FieldErrors({"non_field_errors": "Unknown user id: 9"})

    tester = ActionTester(app)
    assert (await tester.execute("many")).errors == {
        "amount": ["must be positive", "too small"],
        "non_field_errors": ["no"],
    }
    assert (await tester.execute("single")).errors == {"amount": ["must be positive"]}
    assert (await tester.execute("general")) == Outcome(
        value=False, errors={"non_field_errors": ["Unknown user id: 9"]}
    )
    with pytest.raises(ValueError, match="at least one message"):
        FieldErrors({})


async def test_action_error_ends_the_call_with_its_status() -> None:
    app = ActionServer()

    @app.common_action
    def unavailable(ctx: ActionContext) -> None:
        raise ActionError(grpc.StatusCode.UNAVAILABLE, "the mail server is down")

    with pytest.raises(ActionError) as raised:
        await ActionTester(app).execute("unavailable")
    assert raised.value.code is grpc.StatusCode.UNAVAILABLE
    assert raised.value.message == "the mail server is down"
    with pytest.raises(ValueError, match="not OK"):
        ActionError(grpc.StatusCode.OK)


async def test_unexpected_exception_is_internal_and_logged_not_leaked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = ActionServer()

    @app.common_action
    async def crash(ctx: ActionContext) -> None:
        raise RuntimeError("secret database password in the message")

    with pytest.raises(ActionError) as raised:
        await ActionTester(app).execute("crash")
    assert raised.value.code is grpc.StatusCode.INTERNAL
    assert raised.value.message == "action crash failed"
    assert "secret" not in str(raised.value)
    record = next(r for r in caplog.records if r.name == "jetactions")
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None, "the traceback is logged server-side"


async def test_unknown_action_and_field_are_not_found() -> None:
    tester = ActionTester(ActionServer())
    with pytest.raises(ActionError) as raised:
        await tester.execute("x")
    assert (raised.value.code, raised.value.message) == (
        grpc.StatusCode.NOT_FOUND,
        "unknown action 'x'",
    )
    with pytest.raises(ActionError) as raised:
        await tester.field_options("orders", "city")
    assert raised.value.code is grpc.StatusCode.NOT_FOUND


async def test_field_options_return_forms() -> None:
    app = ActionServer()

    @app.field_options("orders", "city")
    async def cities(ctx: FieldContext) -> list[Option]:
        return [Option("rome", "Rome", "red"), Option(7, "Seven")]

    @app.field_options("orders", "dicts")
    def dicts(ctx: FieldContext) -> list[dict[str, object]]:
        return [{"value": "a", "name": "A", "color": "blue"}, {"value": 2}]

    @app.field_options("orders", "broken")
    async def broken(ctx: FieldContext) -> object:
        return "not a list"

    @app.field_options("orders", "denied")
    async def denied(ctx: FieldContext) -> list[Option]:
        raise ActionError(grpc.StatusCode.PERMISSION_DENIED, "no")

    tester = ActionTester(app)
    assert await tester.field_options("orders", "city") == [
        Option("rome", "Rome", "red"),
        Option(7, "Seven"),
    ]
    assert await tester.field_options("orders", "dicts") == [
        Option("a", "A", "blue"),
        Option(2, "2"),
    ]
    with pytest.raises(ActionError) as raised:
        await tester.field_options("orders", "broken")
    assert (raised.value.code, raised.value.message) == (
        grpc.StatusCode.INTERNAL,
        "field options orders.broken failed",
    )
    with pytest.raises(ActionError) as raised:
        await tester.field_options("orders", "denied")
    assert raised.value.code is grpc.StatusCode.PERMISSION_DENIED


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


# --- conversion helpers and public surface -------------------------------------------------


def test_numbers_read_back_as_int_when_integral() -> None:
    assert _convert.from_value(_convert.to_value(5)) == 5
    assert type(_convert.from_value(_convert.to_value(5))) is int
    assert type(_convert.from_value(_convert.to_value(5.5))) is float
    assert type(_convert.from_value(_convert.to_value(2.0**60))) is float, "beyond 2**53"
    assert _convert.from_value(_convert.to_value({"a": [None, True, "x", {}]})) == {
        "a": [None, True, "x", {}]
    }
    assert _convert.from_value(_convert.to_value((1, datetime.time(1, 2)))) == [1, "01:02:00"]
    with pytest.raises(ValueError, match="too large"):
        _convert.to_value(2**60)
    with pytest.raises(ValueError, match="not a JSON number"):
        _convert.to_value(float("inf"))
    with pytest.raises(TypeError, match="keys must be strings"):
        _convert.to_value({1: "x"})


def test_public_api_is_complete_and_sorted() -> None:
    exported = jetactions.__all__
    assert exported == sorted(exported)
    public = {name for name in dir(jetactions) if not name.startswith("_")}
    modules = {"action", "context", "errors", "results", "server", "testing", "tls", "v1"}
    assert public - modules == set(exported)
    for name in exported:
        assert getattr(jetactions, name).__doc__, f"{name} needs a docstring"


# --- the example shop -------------------------------------------------------------------


@pytest.fixture
def shop_tester() -> ActionTester:
    app: ActionServer = load_shop().build_app("")
    return ActionTester(app)


async def test_shop_lists_the_example_actions(shop_tester: ActionTester) -> None:
    listing = await shop_tester.list_actions()
    assert [a.name for a in listing.actions] == [
        "mail_users",
        "adjust_wallet",
        "export_users",
        "ship_order",
        "refresh_stats",
    ]
    assert params_of(listing, "mail_users") == {
        "subject": {"name": "subject", "field": "FIELD_TYPE_CHAR", "required": True},
        "body": {"name": "body", "field": "FIELD_TYPE_TEXT", "default_value": ""},
        "urgent": {"name": "urgent", "field": "FIELD_TYPE_BOOLEAN", "default_value": False},
    }
    assert params_of(listing, "ship_order")["city"]["options_from_server"] is True
    assert [(r.model, r.field) for r in listing.field_options] == [("orders", "city")]


async def test_shop_actions_behave_as_documented(shop_tester: ActionTester) -> None:
    mail = await shop_tester.execute(
        "mail_users", model="users", ids=[1, 3], inputs={"subject": "Hi"}
    )
    assert mail == Outcome(message="Mailed 2 users")
    inverse = await shop_tester.execute(
        "mail_users", model="users", ids=[1, "2"], inverse_ids=True, inputs={"subject": "Hi"}
    )
    assert inverse.message == "Mailed 3 users"
    unknown = await shop_tester.execute(
        "mail_users", model="users", ids=[9], inputs={"subject": "Hi"}
    )
    assert unknown.errors == {"non_field_errors": ["Unknown user id: 9"]}

    refused = await shop_tester.execute(
        "adjust_wallet", model="users", ids=[1], inputs={"amount": "0"}
    )
    assert refused.errors == {"amount": ["must be positive"]}
    adjusted = await shop_tester.execute(
        "adjust_wallet", model="users", ids=[2], inputs={"amount": 5}
    )
    assert adjusted == Outcome(html="Wallet of <strong>Brian</strong> was updated")

    export = await shop_tester.execute("export_users", model="users")
    assert export.file == File(
        "users.csv",
        b"id,name,email\n1,Ada,ada@example.com\n2,Brian,brian@example.com\n"
        b"3,Chen,chen@example.com\n4,Dana,dana@example.com\n5,Emil,emil@example.com\n",
        "text/csv",
    )

    shipped = await shop_tester.execute(
        "ship_order",
        model="orders",
        ids=[7],
        inputs={"carrier": "dhl", "country": "italy", "city": "rome"},
    )
    assert shipped.message == "Order 7 ships with DHL to Rome"
    wrong_city = await shop_tester.execute(
        "ship_order",
        model="orders",
        ids=[7],
        inputs={"carrier": "ups", "country": "uk", "city": "rome"},
    )
    assert wrong_city.errors == {"city": ["not a city of United Kingdom"]}
    bad_choice = await shop_tester.execute(
        "ship_order", model="orders", ids=[7], inputs={"carrier": "fedex", "country": "uk"}
    )
    assert bad_choice.errors == {
        "carrier": ["Select a valid choice. fedex is not one of the available choices."],
        "city": ["This field is required."],
    }
    assert (await shop_tester.execute("refresh_stats")) == Outcome(value=True)

    assert await shop_tester.field_options("orders", "city", {"country": "italy"}) == [
        Option("rome", "Rome", "red"),
        Option("milan", "Milan", "green"),
    ]
    assert [
        o.value for o in await shop_tester.field_options("orders", "city", {"country": "uk"})
    ] == [
        "london",
        "leeds",
    ]
    assert await shop_tester.field_options("orders", "city", {"country": "france"}) == []


async def test_shop_prefix_applies_to_actions_and_models() -> None:
    tester = ActionTester(load_shop().build_app("py_"))
    listing = await tester.list_actions()
    assert all(a.name.startswith("py_") for a in listing.actions)
    models = {m for a in listing.actions for m in a.model_action.models}
    assert models == {"py_users", "py_orders"}
    assert [(r.model, r.field) for r in listing.field_options] == [("py_orders", "city")]
    outcome = await tester.execute(
        "py_mail_users", model="py_users", ids=[1], inputs={"subject": "s"}
    )
    assert outcome.message == "Mailed 1 users"
