"""Jet Admin's messages, parsed from the request body exactly as PROTOCOL.md describes.

`params` may be absent, an object, or an object encoded as a JSON string; ids may stand at the
top level or inside the nested form params, as an array, a comma-separated string or one `id`.
Unknown keys are kept: the whole `params` object travels to the action server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from google.protobuf import struct_pb2

from jetactions.v1 import actions_pb2
from jetbridge.convert import InexactNumber, fill_struct, fill_value, too_deep
from jetbridge.errors import BridgeError, invalid

GET_ACTION_LIST = "get_action_list"
EXECUTE_ACTION = "execute_action"
GET_FIELD_OPTIONS = "get_field_options"
GET_ELEMENT_STATUS = "get_element_status"

# Deepest nesting of objects and arrays accepted in params. Each JSON level costs two or three
# protobuf levels, and protobuf refuses to decode more than 100: the action server could not
# read deeper params (and answers echoing them would not come back).
MAX_DEPTH = 25


@dataclass(frozen=True, slots=True)
class Message:
    """One decoded message: its name and its params object (empty when absent)."""

    name: str
    params: dict[str, Any]


def parse_message(body: bytes) -> Message:
    """Decode a request body into a Message, or raise a 400 in Jet's shape."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise BridgeError(
            400, f"Incorrect JSON body: {error}", non_field_errors=[f"Incorrect JSON body: {error}"]
        ) from None
    if not isinstance(data, dict):
        raise invalid("The body must be a JSON object with a message name")
    name = data.get("name")
    if name is None or name == "":
        raise invalid("The message name is required", "name", ["this field is required"])
    if not isinstance(name, str):
        raise invalid("The message name must be a string", "name", ["must be a string"])
    raw = data.get("params")
    params = _object(raw, "params")
    if _may_nest_too_deep(body, raw) and too_deep(params, MAX_DEPTH):
        raise invalid(f"params are nested more than {MAX_DEPTH} levels deep", "params")
    return Message(name, params)


def _may_nest_too_deep(body: bytes, raw_params: Any) -> bool:
    """False when the body cannot hold params nested more than MAX_DEPTH deep: each level is
    a `{` or `[` in the body, unless params came as a JSON string, whose escapes may hide them.
    Counting is a tenth of walking the params (too_deep), and almost every body is small."""
    if isinstance(raw_params, str):
        return True
    return body.count(b"{") + body.count(b"[") > MAX_DEPTH


def execute_request(params: dict[str, Any]) -> actions_pb2.ExecuteActionRequest:
    """Build the gRPC request of an execute_action message."""
    action = params.get("name")
    if not isinstance(action, str) or not action:
        raise invalid("execute_action needs the action name in params.name", "name")
    inputs = _object(params.get("params"), "params.params")
    request = actions_pb2.ExecuteActionRequest(
        action=action,
        model=_optional_string(params, "model"),
        inverse_ids=_inverse_ids(params),
    )
    ids = request.ids
    try:
        for item in _ids(params, inputs):
            fill_value(ids.add(), item)
    except InexactNumber:
        raise invalid(_INEXACT.format("an id"), "ids") from None
    _fill(request.inputs, inputs, "params.params")
    _fill(request.message_params, params, "params")
    return request


# Ids and inputs must reach the action server exactly as Jet sent them.
_INEXACT = (
    "{} is a number beyond ±2^53 (9007199254740992), which cannot reach the action server "
    "exactly; send it as a string"
)


def _fill(struct: struct_pb2.Struct, data: dict[str, Any], where: str) -> None:
    try:
        fill_struct(struct, data)
    except InexactNumber:
        raise invalid(_INEXACT.format(f"a value in {where}"), where.split(".")[-1]) from None


def field_options_request(params: dict[str, Any]) -> actions_pb2.GetFieldOptionsRequest:
    """Build the gRPC request of a get_field_options message."""
    model = _optional_string(params, "model")
    field = _optional_string(params, "field")
    if not field:
        raise invalid("get_field_options needs params.field", "field", ["this field is required"])
    request = actions_pb2.GetFieldOptionsRequest(model=model, field=field)
    _fill(request.form, _object(params.get("form"), "params.form"), "params.form")
    _fill(request.message_params, params, "params")
    return request


def _object(value: Any, where: str) -> dict[str, Any]:
    """An optional JSON object that may also arrive encoded as a JSON string."""
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            value = orjson.loads(value) if value.strip() else {}
        except orjson.JSONDecodeError as error:
            raise invalid(f"{where} is a string but not JSON: {error}", where) from None
    if not isinstance(value, dict):
        raise invalid(f"{where} must be a JSON object", where)
    return value


def _optional_string(params: dict[str, Any], key: str) -> str:
    value = params.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise invalid(f"params.{key} must be a string", key, ["must be a string"])
    return value


def _inverse_ids(params: dict[str, Any]) -> bool:
    value = params.get("inverseIds", params.get("inverse_ids", False))
    if value is None:
        return False
    if not isinstance(value, bool):
        raise invalid("params.inverseIds must be true or false", "inverseIds")
    return value


def _ids(params: dict[str, Any], inputs: dict[str, Any]) -> list[Any]:
    """Record ids from the first place that has them: top level first, then the form params."""
    for source in (params, inputs):
        if source.get("ids") is not None:
            return _id_list(source["ids"])
        if source.get("id") is not None:
            return _id_list([source["id"]])
    return []


def _id_list(value: Any) -> list[Any]:
    if isinstance(value, str):
        # The documented handler example reads "ids separated with comma".
        return [part.strip() for part in value.split(",") if part.strip()]
    if _is_id(value):
        return [value]
    if isinstance(value, list) and all(_is_id(item) for item in value):
        return value
    raise invalid(
        "ids must be an array of numbers or strings, or a comma-separated string",
        "ids",
        ["must be an array of numbers or strings, or a comma-separated string"],
    )


def _is_id(value: Any) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool)
