"""What the generic checks send: the actions they may run, and inputs made from declared params.

A well-typed call fills every required input with a value its field type accepts (and every
optional one that declares a default with that default, as Jet's form starts with it); select
inputs take their first option, static or from the server's GetFieldOptions for the form filled
so far. An ill-typed call replaces one input with a value its field type refuses.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

from jetactions.v1 import actions_pb2
from jetbridge.convert import from_value

FT = actions_pb2.FieldType

VALID: Final[dict[int, Any]] = {
    FT.FIELD_TYPE_UNSPECIFIED: "conformance",
    FT.FIELD_TYPE_BOOLEAN: True,
    FT.FIELD_TYPE_CHAR: "conformance",
    FT.FIELD_TYPE_TEXT: "conformance\nsecond line",
    FT.FIELD_TYPE_INTEGER: 1,
    FT.FIELD_TYPE_FLOAT: 1.5,
    FT.FIELD_TYPE_DECIMAL: "1.50",
    FT.FIELD_TYPE_DATE_TIME: "2026-01-02T03:04:05Z",
    FT.FIELD_TYPE_DATE: "2026-01-02",
    FT.FIELD_TYPE_TIME: "03:04:05",
    FT.FIELD_TYPE_TIMESTAMP: 1767323045,
    FT.FIELD_TYPE_JSON: {"conformance": True},
    FT.FIELD_TYPE_FOREIGN_KEY: 1,
    FT.FIELD_TYPE_CODE: "print('conformance')",
    FT.FIELD_TYPE_SQL: "SELECT 1",
    FT.FIELD_TYPE_TRANSLATABLE: "conformance",
}
"""A value each field type accepts, as Jet's form sends it (decimals and dates as text)."""

NOT_AN_OPTION: Final = "conformance-not-an-option"

INVALID: Final[dict[int, Any]] = {
    FT.FIELD_TYPE_BOOLEAN: "not a boolean",
    FT.FIELD_TYPE_INTEGER: "not a number",
    FT.FIELD_TYPE_FLOAT: "not a number",
    FT.FIELD_TYPE_DECIMAL: "not a number",
    FT.FIELD_TYPE_DATE_TIME: "not a date",
    FT.FIELD_TYPE_DATE: "not a date",
    FT.FIELD_TYPE_TIME: "not a time",
}
"""A value each checkable field type refuses. Text, JSON, ids and timestamps have none that
every server must refuse; a select with static options refuses NOT_AN_OPTION."""

UNKNOWN_ACTION: Final = "conformance_no_such_action"
"""An action name no server declares (a suffix is added if one does)."""

OptionsOf = Callable[[str, str, dict[str, Any]], Awaitable[list[Any]]]
"""(model, field, form so far) -> the values of the options a server offers."""


def runnable(
    listing: actions_pb2.ListActionsResponse, exclude: frozenset[str]
) -> list[actions_pb2.Action]:
    """The declared actions the run may call: all but the excluded ones."""
    return [action for action in listing.actions if action.name not in exclude]


def unknown_action_name(listing: actions_pb2.ListActionsResponse) -> str:
    """An action name the server does not declare."""
    declared = {action.name for action in listing.actions}
    name = UNKNOWN_ACTION
    while name in declared:
        name += "_"
    return name


def model_of(action: actions_pb2.Action) -> str:
    """The model an action is called with: its first one, or "" for a common action."""
    if action.HasField("model_action") and action.model_action.models:
        return action.model_action.models[0]
    return ""


def ids_for(action: actions_pb2.Action) -> list[Any]:
    """Record ids an action is called with: one (id 1) when it runs on records."""
    if action.HasField("model_action") and action.model_action.for_instance:
        return [1]
    return []


async def valid_inputs(action: actions_pb2.Action, options_of: OptionsOf) -> dict[str, Any]:
    """Inputs a server must accept as well typed (it may still refuse them on their merits)."""
    inputs: dict[str, Any] = {}
    for param in action.params:
        if param.HasField("default_value"):
            inputs[param.name] = from_value(param.default_value)
        elif param.required:
            value = await valid_value(action, param, inputs, options_of)
            if value is not None:
                inputs[param.name] = value
    return inputs


async def valid_value(
    action: actions_pb2.Action,
    param: actions_pb2.Param,
    form: dict[str, Any],
    options_of: OptionsOf,
) -> Any:
    """A value for `param`: its first option for a select, else its field type's value."""
    if param.options:
        return from_value(param.options[0].value)
    if param.options_from_server:
        values = await options_of(model_of(action), param.name, dict(form))
        return values[0] if values else None
    return VALID.get(param.field, VALID[FT.FIELD_TYPE_CHAR])


@dataclass(frozen=True)
class WrongInput:
    """One input replaced by a value of the wrong type."""

    name: str
    value: Any
    why: str


def wrong_input(action: actions_pb2.Action) -> WrongInput | None:
    """The first input of `action` that has a value its type refuses, or None."""
    for param in action.params:
        if param.options and not param.options_from_server:
            return WrongInput(param.name, NOT_AN_OPTION, "a value outside its static options")
        if param.field in INVALID and not param.options_from_server:
            kind = field_label(param.field)
            return WrongInput(param.name, INVALID[param.field], f"not a valid {kind}")
    return None


def first_required(action: actions_pb2.Action) -> actions_pb2.Param | None:
    """The first required input of `action`, or None."""
    return next((param for param in action.params if param.required), None)


def field_label(field: int) -> str:
    """`FIELD_TYPE_INTEGER` -> `integer`, for messages."""
    try:
        return FT.Name(field).removeprefix("FIELD_TYPE_").lower().replace("_", " ")  # type: ignore[arg-type]
    except ValueError:
        return f"field type {field}"
