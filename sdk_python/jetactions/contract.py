"""What the contract's parts agree on beyond the generated code: one owner for each table.

The bridge, the SDK and the conformance suite import these names (the bridge imports nothing
else of the SDK but its public API): the service's full name and the health names, the
metadata keys of a call, Jet's spelling of each field type, the Authorization scheme behind
each `AuthMethod`, and reading JSON out of `google.protobuf.Value`/`Struct`. Writing JSON into
them has two implementations on purpose: the SDK's checks what a handler returned, the bridge's
is tuned for its hot path; tests hold both to `json_format`.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Final

from google.protobuf import struct_pb2

from jetactions.v1 import actions_pb2

__all__ = [
    "AUTH_SCHEMES",
    "HEALTH_SERVICES",
    "MAX_SAFE_INTEGER",
    "REQUEST_ID_METADATA",
    "SECRET_METADATA",
    "SERVICE_NAME",
    "FieldType",
    "from_struct",
    "from_value",
    "jet_field_name",
    "number",
]

SERVICE_NAME: Final[str] = actions_pb2.DESCRIPTOR.services_by_name["ActionService"].full_name
"""`jetactions.v1.ActionService`: the gRPC service, and its name in grpc.health.v1."""
HEALTH_SERVICES: Final = ("", SERVICE_NAME)
"""The grpc.health.v1 names an action server reports: the server, and the service."""
SECRET_METADATA: Final = "x-jetbridge-secret"
"""Request metadata holding the shared secret between the bridge and an action server."""
REQUEST_ID_METADATA: Final = "x-request-id"
"""Request metadata holding the id of the browser's request."""

AUTH_SCHEMES: Final[Mapping[str, actions_pb2.AuthMethod.ValueType]] = {
    "JWT": actions_pb2.AUTH_METHOD_JWT,
    "Token": actions_pb2.AUTH_METHOD_USER_TOKEN,
    "ProjectToken": actions_pb2.AUTH_METHOD_PROJECT_TOKEN,
    "Bearer": actions_pb2.AUTH_METHOD_BEARER,
}
"""The Authorization scheme, as Jet spells it, of each way the bridge authenticates a caller."""


class FieldType(StrEnum):
    """Jet Admin's form field types, spelled as Jet spells them."""

    BOOLEAN = "BooleanField"
    CHAR = "CharField"
    TEXT = "TextField"
    INTEGER = "IntegerField"
    FLOAT = "FloatField"
    DECIMAL = "DecimalField"
    DATE_TIME = "DateTimeField"
    DATE = "DateField"
    TIME = "TimeField"
    TIMESTAMP = "TimestampField"
    JSON = "JSONField"
    SELECT = "SelectField"
    FOREIGN_KEY = "ForeignKey"
    CODE = "CodeField"
    SQL = "SqlField"
    TRANSLATABLE = "TranslatableField"

    @classmethod
    def parse(cls, value: FieldType | str | int) -> FieldType:
        """Accepts a member, Jet's spelling (``"TextField"``) or the proto enum value.

        Raises:
            ValueError: ``value`` names no field type.
        """
        if isinstance(value, FieldType):
            return value
        if isinstance(value, str):
            try:
                return cls(value)
            except ValueError:
                known = ", ".join(member.value for member in cls)
                raise ValueError(f"unknown field type {value!r}; use one of {known}") from None
        for member, number in _PROTO_FIELD_TYPES.items():
            if number == value:
                return member
        raise ValueError(f"unknown field type number {value!r}")

    @property
    def proto(self) -> actions_pb2.FieldType.ValueType:
        """The matching ``jetactions.v1.FieldType`` value."""
        return _PROTO_FIELD_TYPES[self]


_PROTO_FIELD_TYPES: dict[FieldType, actions_pb2.FieldType.ValueType] = {
    FieldType.BOOLEAN: actions_pb2.FIELD_TYPE_BOOLEAN,
    FieldType.CHAR: actions_pb2.FIELD_TYPE_CHAR,
    FieldType.TEXT: actions_pb2.FIELD_TYPE_TEXT,
    FieldType.INTEGER: actions_pb2.FIELD_TYPE_INTEGER,
    FieldType.FLOAT: actions_pb2.FIELD_TYPE_FLOAT,
    FieldType.DECIMAL: actions_pb2.FIELD_TYPE_DECIMAL,
    FieldType.DATE_TIME: actions_pb2.FIELD_TYPE_DATE_TIME,
    FieldType.DATE: actions_pb2.FIELD_TYPE_DATE,
    FieldType.TIME: actions_pb2.FIELD_TYPE_TIME,
    FieldType.TIMESTAMP: actions_pb2.FIELD_TYPE_TIMESTAMP,
    FieldType.JSON: actions_pb2.FIELD_TYPE_JSON,
    FieldType.SELECT: actions_pb2.FIELD_TYPE_SELECT,
    FieldType.FOREIGN_KEY: actions_pb2.FIELD_TYPE_FOREIGN_KEY,
    FieldType.CODE: actions_pb2.FIELD_TYPE_CODE,
    FieldType.SQL: actions_pb2.FIELD_TYPE_SQL,
    FieldType.TRANSLATABLE: actions_pb2.FIELD_TYPE_TRANSLATABLE,
}


def jet_field_name(number: int) -> str:
    """Jet's name of a `jetactions.v1.FieldType` value; one from a newer contract is a
    CharField."""
    try:
        return FieldType.parse(number).value
    except ValueError:
        return FieldType.CHAR.value


# Largest magnitude below which every integer is exactly representable as a double.
MAX_SAFE_INTEGER = 2**53


def number(value: float) -> int | float:
    """Returns ``value`` as an int when it is integral and exactly representable."""
    if value.is_integer() and abs(value) <= MAX_SAFE_INTEGER:
        return int(value)
    return value


def from_value(value: struct_pb2.Value) -> Any:
    """Converts a protobuf Value to plain Python (dict, list, str, int, float, bool, None)."""
    # On every call's inputs and params: `number` is inlined, the common kinds come first.
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return value.string_value
    if kind == "number_value":
        double = value.number_value
        if double.is_integer() and -MAX_SAFE_INTEGER <= double <= MAX_SAFE_INTEGER:
            return int(double)
        return double
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        return from_struct(value.struct_value)
    if kind == "list_value":
        return [from_value(item) for item in value.list_value.values]
    # null_value, or a Value with nothing set: both mean JSON null.
    return None


def from_struct(struct: struct_pb2.Struct) -> dict[str, Any]:
    """Converts a protobuf Struct to a dict of plain Python values."""
    # Keys then lookups: the map's items() is the Mapping mixin's, a generator in Python.
    fields = struct.fields
    return {key: from_value(fields[key]) for key in fields}
