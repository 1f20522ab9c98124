"""Conversion between Python values and google.protobuf Struct/Value.

JSON has one number type and protobuf's Value stores every number as a double, so a JSON
``5`` arrives as ``5.0``. Reading a Value back gives an ``int`` when the double is integral
and within ±2**53 (where doubles hold every integer exactly), a ``float`` otherwise: record
id ``5`` stays ``5`` and a form's ``2.5`` stays ``2.5``. The price is that a JSON ``2.0``
also reads back as ``2``; JSON itself does not tell the two apart.

Writing accepts JSON's types plus a few Python types with one obvious JSON form:
``Decimal`` becomes its exact string, dates and times their ISO 8601 string, an ``Enum``
its value and a tuple a list. Anything else, and nesting deeper than ``MAX_DEPTH``, raises
``UnsendableValue`` naming where the value sits.
"""

from __future__ import annotations

import datetime
import enum
import math
from collections.abc import Mapping
from decimal import Decimal

from google.protobuf import struct_pb2

# Reading is the contract's (one owner, shared with the bridge); writing checks what a handler
# returned, so it is the SDK's own.
from jetactions.contract import MAX_SAFE_INTEGER, from_struct, from_value, number

__all__ = [
    "MAX_SAFE_INTEGER",
    "UnsendableValue",
    "fill_struct",
    "fill_value",
    "from_struct",
    "from_value",
    "number",
    "to_struct",
    "to_value",
]


class UnsendableValue(TypeError, ValueError):
    """A value has no JSON form (or nests too deep); ``path`` says where, e.g. ``.a[2]``.

    Both a ``TypeError`` and a ``ValueError``: callers written against either keep working.
    """

    def __init__(self, reason: str, path: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = path

    def __str__(self) -> str:
        return f"{self.reason} at {self.path}" if self.path else self.reason

    def inside(self, step: str) -> UnsendableValue:
        """Returns the same error one level further out (``step`` is ``.key`` or ``[i]``)."""
        return UnsendableValue(self.reason, step + self.path)


MAX_DEPTH = 32
"""The most objects and arrays nested in one another that a Value may hold.

Every receiver's protobuf parser refuses messages nested beyond its recursion limit (100 in
upb and protobuf-java); a JSON object costs three message levels, so 32 of them still parse
wherever the value ends up.
"""


def to_value(obj: object) -> struct_pb2.Value:
    """Converts a JSON-representable Python value to a new protobuf Value.

    Raises:
        UnsendableValue: ``obj`` (or something inside it) has no JSON form: a type JSON does
            not have, a number JSON cannot carry (NaN, infinity, an int beyond ±2**53), a
            non-string key, or more than ``MAX_DEPTH`` levels of nesting.
    """
    value = struct_pb2.Value()
    fill_value(value, obj)
    return value


def to_struct(obj: Mapping[str, object]) -> struct_pb2.Struct:
    """Converts a mapping with string keys to a new protobuf Struct."""
    struct = struct_pb2.Struct()
    fill_struct(struct, obj)
    return struct


def fill_struct(target: struct_pb2.Struct, obj: Mapping[str, object], depth: int = 1) -> None:
    """Writes ``obj`` into ``target`` (which is usually a field of a larger message)."""
    if depth > MAX_DEPTH:
        raise UnsendableValue(f"more than {MAX_DEPTH} levels of nesting")
    for key, item in obj.items():
        if not isinstance(key, str):
            raise UnsendableValue(f"JSON object keys must be strings, not {type(key).__name__}")
        try:
            fill_value(target.fields[key], item, depth)
        except UnsendableValue as error:
            raise error.inside(f".{key}") from None


def fill_value(target: struct_pb2.Value, obj: object, depth: int = 0) -> None:
    """Writes ``obj`` into ``target`` in place; see to_value for the rules.

    ``depth`` is how many objects and arrays already enclose ``target``.
    """
    # bool before int: bool is a subclass of int.
    if obj is None:
        target.null_value = struct_pb2.NULL_VALUE
    elif isinstance(obj, bool):
        target.bool_value = obj
    elif isinstance(obj, str):
        target.string_value = obj
    elif isinstance(obj, enum.Enum):
        fill_value(target, obj.value, depth)
    elif isinstance(obj, int):
        if abs(obj) > MAX_SAFE_INTEGER:
            raise UnsendableValue("an integer beyond ±2**53 is too large for a JSON number")
        target.number_value = obj
    elif isinstance(obj, float):
        if not math.isfinite(obj):
            raise UnsendableValue(f"{obj} is not a JSON number")
        target.number_value = obj
    elif isinstance(obj, Decimal):
        if not obj.is_finite():
            raise UnsendableValue(f"Decimal {obj} is not a JSON number")
        target.string_value = str(obj)
    elif isinstance(obj, datetime.date | datetime.time):
        target.string_value = obj.isoformat()
    elif isinstance(obj, Mapping):
        # SetInParent makes an empty dict an empty object rather than an unset Value.
        target.struct_value.SetInParent()
        fill_struct(target.struct_value, obj, depth + 1)
    elif isinstance(obj, list | tuple):
        if depth >= MAX_DEPTH:
            raise UnsendableValue(f"more than {MAX_DEPTH} levels of nesting")
        target.list_value.SetInParent()
        for index, item in enumerate(obj):
            try:
                fill_value(target.list_value.values.add(), item, depth + 1)
            except UnsendableValue as error:
                raise error.inside(f"[{index}]") from None
    else:
        raise UnsendableValue(f"{type(obj).__name__} is not JSON-representable")
