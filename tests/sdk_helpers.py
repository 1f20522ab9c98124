"""Helpers shared by the SDK test files (tests/test_sdk_*.py)."""

from __future__ import annotations

import enum
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from google.protobuf import json_format

from jetactions.testing import ActionTester
from jetactions.v1 import actions_pb2

SHOP = Path(__file__).resolve().parent.parent / "examples" / "python" / "shop.py"


def load_shop() -> ModuleType:
    """Imports examples/python/shop.py (a script, not a package)."""
    spec = importlib.util.spec_from_file_location("jetactions_example_shop", SHOP)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Dataclasses look their module up in sys.modules while the module runs.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


async def listing_of(tester: ActionTester) -> actions_pb2.ListActionsResponse:
    """What ListActions answers on the wire (ActionTester.list_actions gives typed definitions)."""
    return await tester.stub.ListActions(actions_pb2.ListActionsRequest())


def params_of(listing: actions_pb2.ListActionsResponse, action: str) -> dict[str, Any]:
    """The action's form params as JSON dicts keyed by name (proto3 JSON names)."""
    for entry in listing.actions:
        if entry.name == action:
            return {
                param.name: json_format.MessageToDict(param, preserving_proto_field_name=True)
                for param in entry.params
            }
    raise AssertionError(f"no action {action!r}")


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Size(enum.IntEnum):
    SMALL = 1
    LARGE = 2
