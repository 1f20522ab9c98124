"""JSON values (as decoded by orjson) to and from google.protobuf Struct/Value.

Hand-written because it is on every request's path: building messages field by field is several
times faster than `json_format`, and tests check it against `json_format` on many inputs.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import struct_pb2

# Integral numbers come back as int up to here; beyond it a double is no longer exact.
_EXACT_INT = 2**53


class InexactNumber(ValueError):
    """A number beyond ±2^53: a protobuf Value holds a double, which would change it."""


def fill_value(value: struct_pb2.Value, data: Any) -> None:
    """Write the JSON value `data` into `value`; InexactNumber for a number beyond ±2^53
    (orjson reads one beyond 64 bits as a float already, so both kinds are refused)."""
    if data is None:
        value.null_value = struct_pb2.NULL_VALUE
    elif data is True or data is False:
        value.bool_value = data
    elif isinstance(data, str):
        value.string_value = data
    elif isinstance(data, int | float):
        if not -_EXACT_INT <= data <= _EXACT_INT:
            raise InexactNumber(data)
        value.number_value = data
    elif isinstance(data, dict):
        fill_struct(value.struct_value, data)
    elif isinstance(data, list | tuple):
        items = value.list_value.values
        for item in data:
            fill_value(items.add(), item)
        if not data:
            value.list_value.SetInParent()
    else:
        raise TypeError(f"not a JSON value: {type(data).__name__}")


def fill_struct(struct: struct_pb2.Struct, data: dict[str, Any]) -> None:
    """Write the JSON object `data` into `struct`."""
    fields = struct.fields
    for key, item in data.items():
        fill_value(fields[key], item)
    if not data:
        struct.SetInParent()


def from_value(value: struct_pb2.Value) -> Any:
    """The JSON value held by `value` (an unset Value reads as null)."""
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return value.string_value
    if kind == "number_value":
        number = value.number_value
        if number.is_integer() and -_EXACT_INT <= number <= _EXACT_INT:
            return int(number)
        return number
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        return from_struct(value.struct_value)
    if kind == "list_value":
        return [from_value(item) for item in value.list_value.values]
    return None


def from_struct(struct: struct_pb2.Struct) -> dict[str, Any]:
    """The JSON object held by `struct`."""
    return {key: from_value(item) for key, item in struct.fields.items()}


def too_deep(value: Any, limit: int) -> bool:
    """Whether objects and arrays nest deeper than `limit` (iterative: no recursion limit)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        )
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False
