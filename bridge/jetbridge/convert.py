"""JSON values (as decoded by orjson) to and from google.protobuf Struct/Value.

Hand-written because it is on every request's path: building messages field by field is several
times faster than `json_format`, and tests check it against `json_format` on many inputs.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import struct_pb2

# Reading is the contract's own; the bridge keeps only a faster writer.
from jetactions.contract import MAX_SAFE_INTEGER, from_struct, from_value

__all__ = ["InexactNumber", "fill_struct", "fill_value", "from_struct", "from_value", "too_deep"]


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
        if not -MAX_SAFE_INTEGER <= data <= MAX_SAFE_INTEGER:
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
