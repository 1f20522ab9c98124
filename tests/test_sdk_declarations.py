"""The SDK's declarations: handler signatures become Jet forms, mistakes fail at decoration."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, Optional

import pytest
from google.protobuf import json_format

from jetactions import (
    ActionContext,
    ActionDefinition,
    ActionServer,
    FieldContext,
    FieldType,
    Option,
    Param,
)
from jetactions.testing import ActionTester
from jetactions.v1 import actions_pb2
from tests.support import Color, Size, listing_of, params_of

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

    params = params_of(await listing_of(ActionTester(app)), "everything")
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

    params = params_of(await listing_of(ActionTester(app)), "defaults")
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

    params = params_of(await listing_of(ActionTester(app)), "refine")
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
    params = params_of(await listing_of(tester), "announce")
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

    listing = await listing_of(ActionTester(app))
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
        "server_name": "actions",
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


# --- the context parameter and the server's name --------------------------------------------


def test_a_first_parameter_that_is_not_the_context_fails_at_decoration() -> None:
    app = ActionServer()

    async def forgot_ctx(subject: str) -> None:
        pass

    async def options_without_ctx(country: str) -> list[Option]:
        return []

    with pytest.raises(TypeError) as info:
        app.common_action(forgot_ctx)
    assert str(info.value) == (
        "action 'forgot_ctx': the first parameter 'subject' is annotated str, but it receives "
        "the ActionContext; write `ctx: ActionContext` first"
    )
    with pytest.raises(TypeError, match="receives the FieldContext"):
        app.field_options("orders", "city")(options_without_ctx)
    with pytest.raises(TypeError, match="receives the ActionContext"):
        app.common_action(name="wrong_context")(options_without_ctx)
    assert not app.actions


class MyContext(ActionContext):
    """A context subclass (annotations resolve at module level)."""


def test_context_annotations_that_fit_are_accepted() -> None:
    app = ActionServer()

    async def plain(ctx, subject: str) -> None:  # type: ignore[no-untyped-def]
        pass

    async def anything(ctx: Any, subject: str) -> None:
        pass

    async def subclass(ctx: MyContext, subject: str) -> None:
        pass

    for handler in (plain, anything, subclass):
        app.common_action(handler)
    assert list(app.actions) == ["plain", "anything", "subclass"]


async def test_server_name_is_validated_and_listed() -> None:
    listing = await listing_of(ActionTester(ActionServer(name="billing-eu.v2")))
    assert listing.server_name == "billing-eu.v2"
    for bad in ("", "has space", "semi;colon", "a" * 65, "ünïcode", "127.0.0.1:50051"):
        with pytest.raises(ValueError, match="must be 1 to 64 letters, digits"):
            ActionServer(name=bad)


async def test_list_actions_returns_typed_definitions() -> None:
    app = ActionServer()

    @app.model_action("users", for_instance=True, timeout=3)
    async def mail(ctx: ActionContext, subject: str) -> None:
        pass

    @app.common_action
    def refresh(ctx: ActionContext) -> None:
        pass

    definitions = await ActionTester(app).list_actions()
    assert [type(d) for d in definitions] == [ActionDefinition, ActionDefinition]
    assert definitions == list(app.actions.values())
    mail_definition = definitions[0]
    assert (mail_definition.name, mail_definition.models, mail_definition.timeout) == (
        "mail",
        ("users",),
        3.0,
    )
    assert mail_definition.params[0].field is FieldType.CHAR


def test_field_options_with_unresolvable_return_annotations_still_decorate() -> None:
    # Field options handlers' annotations were never resolved: the context check must not
    # start failing on, say, a return type imported only under TYPE_CHECKING.
    app = ActionServer()

    async def cities(ctx: FieldContext) -> NotImportedHere:  # type: ignore[name-defined]  # noqa: F821
        return []

    app.field_options("orders", "city")(cities)
    assert list(app.field_option_sources) == [("orders", "city")]
