"""The hand-written JSON ↔ Struct conversion agrees with protobuf's json_format."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import json_format, struct_pb2
from hypothesis import given
from hypothesis import strategies as st

from jetbridge.convert import InexactNumber, fill_struct, fill_value, from_struct, from_value

# JSON as orjson decodes it; numbers stay within what a double holds exactly, as in JavaScript.
scalars = (
    st.none()
    | st.booleans()
    | st.text(max_size=20)
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(min_value=-(2.0**53), max_value=2.0**53)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)
json_objects = st.dictionaries(st.text(max_size=10), json_values, max_size=8)


@given(json_objects)
def test_fill_struct_builds_what_json_format_builds(data: dict[str, Any]) -> None:
    ours = struct_pb2.Struct()
    fill_struct(ours, data)
    assert ours == json_format.ParseDict(data, struct_pb2.Struct())


@given(json_objects)
def test_round_trip_gives_back_the_same_json(data: dict[str, Any]) -> None:
    struct = struct_pb2.Struct()
    fill_struct(struct, data)
    back = from_struct(struct)
    assert back == data
    assert back == json_format.MessageToDict(struct)


@given(json_values)
def test_values_round_trip(data: Any) -> None:
    value = struct_pb2.Value()
    fill_value(value, data)
    assert value == json_format.ParseDict(data, struct_pb2.Value())
    assert from_value(value) == data


def test_integral_numbers_come_back_as_int_and_others_as_float() -> None:
    value = struct_pb2.Value()
    fill_value(value, [5, 2.5, 5.0])
    # An action server may answer a number beyond 2^53: it reads back as the float it is.
    value.list_value.values.add().number_value = 2**60
    assert [type(item) for item in from_value(value)] == [int, float, int, float]


def test_empty_containers_are_kept() -> None:
    value = struct_pb2.Value()
    fill_value(value, {"a": [], "b": {}})
    assert from_value(value) == {"a": [], "b": {}}


def test_non_json_values_are_refused() -> None:
    with pytest.raises(TypeError, match="not a JSON value"):
        fill_value(struct_pb2.Value(), {1, 2})


@given(st.integers(min_value=2**53 + 1) | st.floats(min_value=2.0**53, exclude_min=True))
def test_numbers_a_double_would_change_are_refused(number: float) -> None:
    for sign in (1, -1):
        with pytest.raises(InexactNumber):
            fill_struct(struct_pb2.Struct(), {"n": sign * number})
