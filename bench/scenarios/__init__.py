"""The benchmark's scenarios, each named by what it measures.

`--only` takes these names; the numbers of issue 6's scenarios still work (1 and 2 run
together, as `reference`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bench.harness import Runner
from bench.model import Options, Results
from bench.scenarios import (
    action_list,
    auth,
    floors,
    go_server,
    memory,
    observability,
    reference,
    workers,
)
from bench.stack import Setup


@dataclass(frozen=True)
class Scenario:
    name: str
    numbers: tuple[str, ...]
    """Issue 6's scenario numbers, still accepted by --only."""
    run: Callable[[Setup, Runner, Results, Options], None]


SCENARIOS = (
    Scenario("reference", ("1", "2"), reference.run),
    Scenario("action-list", ("3",), action_list.run),
    Scenario("auth", ("4",), auth.run),
    Scenario("workers", ("6",), workers.run),
    Scenario("floors", (), floors.run),
    Scenario("go", (), go_server.run),
    Scenario("observability", (), observability.run),
    # Last: a long load that must not disturb the comparisons.
    Scenario("memory", ("5",), memory.run),
)
NAMES = tuple(scenario.name for scenario in SCENARIOS)


def selected(only: str) -> frozenset[str]:
    """The scenario names `--only` asks for.

    Raises:
        ValueError: An unknown name.
    """
    chosen = set()
    for part in (item.strip() for item in only.split(",")):
        if not part:
            continue
        found = [s.name for s in SCENARIOS if part == s.name or part in s.numbers]
        if not found:
            raise ValueError(f"unknown scenario {part!r}: choose from {', '.join(NAMES)}")
        chosen.update(found)
    return frozenset(chosen)
