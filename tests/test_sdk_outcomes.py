"""What handlers return (and raise) and what Jet receives, through ActionTester."""

from __future__ import annotations

import logging
from decimal import Decimal

import grpc
import pytest

from jetactions import (
    ActionContext,
    ActionError,
    ActionServer,
    FieldContext,
    FieldErrors,
    File,
    Option,
    Result,
)
from jetactions.testing import ActionTester, Outcome

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
    assert raised.value.message == (
        "action 'give' returned a value that cannot be sent: object is not JSON-representable"
        " at result"
    )
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
        "field options orders.broken returned a value that cannot be sent: "
        "must be a list, not str at options",
    )
    with pytest.raises(ActionError) as raised:
        await tester.field_options("orders", "denied")
    assert raised.value.code is grpc.StatusCode.PERMISSION_DENIED


# --- hardening: what cannot be sent, files ---------------------------------------------------


def _nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = {"a": value}
    return value


class _Thing:
    pass


@pytest.mark.parametrize(
    ("returned", "cause"),
    [
        ({"a": {"b": float("nan")}}, "nan is not a JSON number at result.a.b"),
        (Result(value=[1, float("inf")]), "inf is not a JSON number at result.value[1]"),
        ({"tags": {1, 2}}, "set is not JSON-representable at result.tags"),
        (Result(extra={"who": _Thing()}), "_Thing is not JSON-representable at result.extra.who"),
        (_nested(40), "more than 32 levels of nesting at result" + ".a" * 33),
        (Result(message=5), "must be a string, not int at result.message"),  # type: ignore[arg-type]
        ({1: "x"}, "JSON object keys must be strings, not int at result"),
    ],
)
async def test_unsendable_results_name_the_cause(returned: object, cause: str) -> None:
    with pytest.raises(ActionError) as raised:
        await outcome_of(returned)
    assert raised.value.code is grpc.StatusCode.INTERNAL
    assert raised.value.message == f"action 'give' returned a value that cannot be sent: {cause}"


async def test_deepest_sendable_result_is_sent() -> None:
    # 32 levels parse on every receiver (protobuf's recursion limit is 100 messages).
    assert (await outcome_of(Result(value=_nested(32)))).value == _nested(32)


async def test_unsendable_field_option_names_the_option() -> None:
    app = ActionServer()

    @app.field_options("orders", "city")
    async def cities(ctx: FieldContext) -> list[Option]:
        return [Option("rome", "Rome"), Option(float("nan"), "NaN")]

    with pytest.raises(ActionError) as raised:
        await ActionTester(app).field_options("orders", "city")
    assert raised.value.code is grpc.StatusCode.INTERNAL
    assert raised.value.message == (
        "field options orders.city returned a value that cannot be sent: "
        "nan is not a JSON number at options[1].value"
    )


async def test_content_type_parameters_are_kept() -> None:
    outcome = await outcome_of(File("a.csv", "x", "text/csv; charset=utf-8"))
    assert outcome.file == File("a.csv", b"x", "text/csv; charset=utf-8")
    assert File("a", b"", 'text/plain;format="fixed"').content_type == 'text/plain;format="fixed"'


@pytest.mark.parametrize(
    "content_type",
    ["text/csv\r\nX-Evil: 1", "text/csv\n", "text", "text/csv; charset", "a b/c", "x/" + "y" * 300],
)
def test_invalid_content_types_fail_at_construction(content_type: str) -> None:
    with pytest.raises(ValueError, match="is not a media type"):
        File("a.csv", b"", content_type)


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("invoice\u202etxt.exe", "invoicetxt.exe"),
        ("a\r\nb\x00c.csv", "abc.csv"),
        ("\u2066evil\u2069.pdf", "evil.pdf"),
        ("../../etc/passwd", "etcpasswd"),
        ("  report.csv. ", "report.csv"),
        ("\x00\x01", "download"),
        ("Übersicht.csv", "Übersicht.csv"),
    ],
)
def test_file_names_are_made_safe(given: str, kept: str) -> None:
    assert File(given, b"").filename == kept


def test_long_file_names_are_cut_keeping_the_extension() -> None:
    name = File("é" * 5000 + ".csv", b"").filename
    assert len(name.encode()) <= 255
    assert name.endswith("é.csv")
    assert File("a" * 300, b"").filename == "a" * 255
