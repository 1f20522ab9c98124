"""The SDK's input conversion and validation, through ActionTester."""

from __future__ import annotations

import datetime
import math
from decimal import Decimal
from typing import Any, Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jetactions import (
    ActionContext,
    ActionServer,
    _inputs,
)
from jetactions.testing import ActionTester, Outcome
from jetactions.v1 import actions_pb2
from tests.support import Color, Size

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
    response = await r.tester.stub.ExecuteAction(request)
    assert response.errors.fields["value"].messages == ["Enter a number."]
    assert r.calls == []


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


# --- hardening: every conversion is bounded -------------------------------------------------

DIGITS = "Ensure that there are no more than 4300 digits."


def short_id(value: object) -> str | None:
    # pytest would print the huge values (and cannot print ints past 4,300 digits).
    if isinstance(value, str) and len(value) <= 24:
        return None  # pytest's own id
    return f"{type(value).__name__}-{len(value) if isinstance(value, str) else 'huge'}"


@pytest.mark.parametrize(
    ("action", "raw", "message"),
    [
        # Python refuses to parse ints of more than 4,300 digits: a field error, not a crash.
        ("int", "1" * 4301, DIGITS),
        ("int", "-" + "9" * 100_000, DIGITS),
        ("float", "1" * 100_000, "Enter a number."),
        ("float", "inf", "Enter a number."),
        ("float", "nan", "Enter a number."),
        ("float", "1e999", "Enter a number."),
        # Valid Decimals that overflow (or eat the memory) as soon as they are used.
        ("decimal", "1e999999999", "Enter a number between 1e-308 and 1e308."),
        ("decimal", "1e-999999999", "Enter a number between 1e-308 and 1e308."),
        ("decimal", "0e999999999", "Enter a number between 1e-308 and 1e308."),
        ("decimal", "1." + "1" * 100, "Ensure that there are no more than 100 digits."),
        ("decimal", "Infinity", "Enter a number."),
        ("date", "2024-01-01" + " " * 100_000, "Enter a valid date."),
        ("datetime", "9" * 1000, "Enter a valid date/time."),
        ("time", "1" * 1000, "Enter a valid time."),
        ("dict", "[" * 100_000, "Enter a valid JSON."),
        ("list", "[NaN]", "Enter a valid JSON."),
        ("list", "[" * 40 + "]" * 40, "Enter a JSON document nested at most 32 levels deep."),
        (
            "literal",
            "x" * 10_000,
            "Select a valid choice. " + "x" * 39 + "… is not one of the available choices.",
        ),
    ],
    ids=short_id,
)
async def test_unusable_values_are_field_errors(
    recorder: Recorder, action: str, raw: object, message: str
) -> None:
    outcome = await recorder.run(action, raw)
    assert outcome == Outcome(value=False, errors={"value": [message]})
    assert recorder.calls == []


@pytest.mark.parametrize(
    ("action", "raw", "value"),
    [
        ("int", "9" * 4300, int("9" * 4300)),
        ("decimal", "1" + "0" * 300, Decimal("1" + "0" * 300)),
        ("decimal", "1e308", Decimal("1e308")),
        ("decimal", "-1.5e-308", Decimal("-1.5e-308")),
        (
            "list",
            "[" * 32 + "]" * 32,
            [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],
        ),
    ],
    ids=short_id,
)
async def test_values_at_the_bounds_are_accepted(
    recorder: Recorder, action: str, raw: object, value: object
) -> None:
    outcome = await recorder.run(action, raw)
    assert outcome.errors is None
    assert recorder.calls == [{"value": value}]


def test_converters_refuse_ints_python_cannot_print() -> None:
    # The wire cannot carry them (numbers are doubles), but a converter must still say no.
    for convert in (_inputs.to_int, _inputs.to_str, _inputs.to_decimal, _inputs.to_float):
        with pytest.raises(_inputs.InvalidInput):
            convert(10**5000)


# --- fuzzing: a converter answers a value or a field error, nothing else ----------------------

_huge_texts = st.one_of(
    st.integers(min_value=-(10**400), max_value=10**400).map(str),
    st.text(alphabet="0123456789", min_size=4290, max_size=4310),  # around Python's limit
    st.builds(
        lambda digits, exponent: f"{digits}e{exponent}",
        st.integers(min_value=-(10**200), max_value=10**200),
        st.integers(min_value=-(10**12), max_value=10**12),
    ),
    st.text(alphabet="0123456789.eE+-", max_size=60),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=40),  # control characters too
)
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=True, allow_infinity=True)
    | _huge_texts,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=20,
)
_CONVERTERS = [
    _inputs.to_str,
    _inputs.to_int,
    _inputs.to_float,
    _inputs.to_decimal,
    _inputs.to_bool,
    _inputs.to_datetime,
    _inputs.to_date,
    _inputs.to_time,
    _inputs.to_json_object,
    _inputs.to_json_list,
    _inputs.choice_of(["a", 1, 2.5]),
    _inputs.member_of(Color),
]


@settings(max_examples=150, deadline=None)
@given(raw=_json | st.text(alphabet="[{", max_size=3000))
def test_converters_answer_a_value_or_a_field_error(raw: object) -> None:
    for convert in _CONVERTERS:
        try:
            value = convert(raw)
        except _inputs.InvalidInput as error:
            message = str(error)
        else:
            message = ""
        assert len(message) < 200  # a refusal never echoes the whole input back
        if message:
            continue
        if isinstance(value, int) and not isinstance(value, bool):
            assert len(str(value)) <= 4301  # printable, so usable
        if isinstance(value, Decimal):
            assert value.is_finite()
            assert abs(value.adjusted()) <= 308
        if isinstance(value, float):
            assert math.isfinite(value)
