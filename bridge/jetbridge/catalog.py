"""The merged table of what every service declared, and the rule for duplicates.

Rule: services are ranked in the order they are configured. When two services declare the same
action name (or the same (model, field) options source), the one configured first serves it, and
the other's declaration is ignored and logged as an error on every rebuild. Only services that
have been discovered at least once take part, so a service configured first that is down at start
takes its names over once it comes up. `jetbridge check` exits non-zero while any conflict exists.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from jetactions.v1 import actions_pb2
from jetbridge import render
from jetbridge.services import Service

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Route:
    """Where one action is served."""

    service: Service
    action: actions_pb2.Action


@dataclass(frozen=True, slots=True)
class Conflict:
    """A name declared by two services; `winner` serves it, `loser` is ignored."""

    kind: str
    key: str
    winner: str
    loser: str

    def __str__(self) -> str:
        return (
            f"{self.kind} {self.key!r} is declared by services {self.winner!r} and "
            f"{self.loser!r}: {self.winner!r} serves it (configured first)"
        )


@dataclass(frozen=True)
class Catalog:
    """An immutable routing table; discovery swaps in a new one when anything changes."""

    actions: dict[str, Route] = field(default_factory=dict)
    field_options: dict[tuple[str, str], Service] = field(default_factory=dict)
    conflicts: tuple[Conflict, ...] = ()
    # get_action_list's body, rendered once per change rather than once per request.
    action_list_body: bytes = b"[]"

    @classmethod
    def build(cls, services: Sequence[Service]) -> Catalog:
        """Merge the listings of `services`, given in configuration order."""
        actions: dict[str, Route] = {}
        options: dict[tuple[str, str], Service] = {}
        conflicts: list[Conflict] = []
        for service in services:
            if service.listing is None:
                continue
            for action in service.listing.actions:
                if action.name in actions:
                    winner = actions[action.name].service.name
                    conflicts.append(Conflict("action", action.name, winner, service.name))
                else:
                    actions[action.name] = Route(service, action)
            for ref in service.listing.field_options:
                key = (ref.model, ref.field)
                if key in options:
                    winner = options[key].name
                    conflicts.append(
                        Conflict("field options", f"{ref.model}.{ref.field}", winner, service.name)
                    )
                else:
                    options[key] = service
        body = orjson.dumps([listing_item(route, conflicts) for route in actions.values()])
        for conflict in conflicts:
            log.error("conflict: %s", conflict)
        return cls(actions, options, tuple(conflicts), body)

    def table(self) -> list[dict[str, str]]:
        """One row per action: name, kind, models, service (for `jetbridge actions`)."""
        rows = []
        for name, route in self.actions.items():
            action = route.action
            is_model = action.WhichOneof("kind") == "model_action"
            rows.append(
                {
                    "action": name,
                    "kind": "model" if is_model else "common",
                    "models": ",".join(action.model_action.models) if is_model else "",
                    "service": route.service.name,
                }
            )
        for (model, field_name), service in self.field_options.items():
            rows.append(
                {
                    "action": f"(options {model}.{field_name})",
                    "kind": "options",
                    "models": model,
                    "service": service.name,
                }
            )
        return rows


def listing_item(route: Route, conflicts: Sequence[Conflict]) -> dict[str, Any]:
    """One get_action_list entry, plus a `jetbridge` key that Jet Admin ignores and the console
    reads: the service that serves the action and the conflicts over its names."""
    action = route.action
    keys = {("action", action.name)}
    models = action.model_action.models if action.WhichOneof("kind") == "model_action" else [""]
    keys |= {("field options", f"{m}.{p.name}") for m in models for p in action.params}
    own = [str(conflict) for conflict in conflicts if (conflict.kind, conflict.key) in keys]
    extra: dict[str, Any] = {"service": route.service.name}
    if own:
        extra["conflicts"] = own
    return {**render.action(action), "jetbridge": extra}
