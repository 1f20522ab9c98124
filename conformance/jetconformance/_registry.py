"""What one check is, and the registry its decorator fills.

Each check module decorates its checks with `@check(...)`; the registry keeps them in the order
they were defined, per suite, and the runner asks it for a suite's checks of one layer. There is
no hand-kept list to forget a new check in.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from jetconformance._target import Target

Suite = Literal["generic", "shop"]
"""`generic`: any server, from what it declares; `shop`: the example shop of examples/ACTIONS.md."""
Layer = Literal["grpc", "bridge"]
"""`grpc`: calls the server directly; `bridge`: sends Jet's messages to a bridge in front of it."""

CheckFunction = Callable[["Target"], Awaitable[str | None]]
"""Passes by returning (optionally a short note for the report), fails by raising."""


@dataclass(frozen=True)
class Check:
    """One named check of a suite."""

    suite: Suite
    layer: Layer
    id: str
    title: str
    function: CheckFunction


_REGISTRY: dict[Suite, dict[str, Check]] = {"generic": {}, "shop": {}}


def check(
    suite: Suite, layer: Layer, check_id: str, title: str
) -> Callable[[CheckFunction], Check]:
    """Register the decorated function as the check `check_id` of `suite`.

    Raises:
        ValueError: (From the decorator) the suite already has a check with this id.
    """

    def register(function: CheckFunction) -> Check:
        checks = _REGISTRY[suite]
        if check_id in checks:
            raise ValueError(f"{suite} suite: two checks named {check_id!r}")
        item = Check(suite=suite, layer=layer, id=check_id, title=title, function=function)
        checks[check_id] = item
        return item

    return register


def checks(suite: Suite, layer: Layer | None = None) -> tuple[Check, ...]:
    """The checks of `suite` (of one layer, or all: gRPC ones first), in the order they run."""
    registered = _REGISTRY[suite].values()
    layers: tuple[Layer, ...] = ("grpc", "bridge") if layer is None else (layer,)
    return tuple(item for wanted in layers for item in registered if item.layer == wanted)


def find(suite: Suite, check_id: str) -> Check:
    """The check `check_id` of `suite`.

    Raises:
        KeyError: There is none.
    """
    return _REGISTRY[suite][check_id]
