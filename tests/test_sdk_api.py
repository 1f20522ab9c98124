"""The SDK's conversion helpers and public surface."""

from __future__ import annotations

import datetime

import pytest

import jetactions
from jetactions import (
    _convert,
)

# --- conversion helpers and public surface -------------------------------------------------


def test_numbers_read_back_as_int_when_integral() -> None:
    assert _convert.from_value(_convert.to_value(5)) == 5
    assert type(_convert.from_value(_convert.to_value(5))) is int
    assert type(_convert.from_value(_convert.to_value(5.5))) is float
    assert type(_convert.from_value(_convert.to_value(2.0**60))) is float, "beyond 2**53"
    assert _convert.from_value(_convert.to_value({"a": [None, True, "x", {}]})) == {
        "a": [None, True, "x", {}]
    }
    assert _convert.from_value(_convert.to_value((1, datetime.time(1, 2)))) == [1, "01:02:00"]
    with pytest.raises(ValueError, match="too large"):
        _convert.to_value(2**60)
    with pytest.raises(ValueError, match="not a JSON number"):
        _convert.to_value(float("inf"))
    with pytest.raises(TypeError, match="keys must be strings"):
        _convert.to_value({1: "x"})


def test_public_api_is_complete_and_sorted() -> None:
    exported = jetactions.__all__
    assert exported == sorted(exported)
    public = {name for name in dir(jetactions) if not name.startswith("_")}
    modules = {
        "action",
        "context",
        "contract",
        "errors",
        "inprocess",
        "results",
        "server",
        "sync_pool",
        "testing",
        "tls",
        "v1",
    }
    assert public - modules == set(exported)
    for name in exported:
        assert getattr(jetactions, name).__doc__, f"{name} needs a docstring"
