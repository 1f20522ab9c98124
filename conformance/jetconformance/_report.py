"""The outcome of a run: one result per check, as text for people or JSON for machines."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import orjson

from jetconformance._registry import Suite

AGAINST: dict[Suite, str] = {
    "generic": "the ActionService contract (proto/jetactions/v1/actions.proto)",
    "shop": "the example shop (examples/ACTIONS.md)",
}
"""What each suite checks a server against, for the report's first line."""


@dataclass(frozen=True)
class CheckResult:
    """What one check found."""

    id: str
    title: str
    passed: bool
    expected: str = ""
    """What the contract or the spec says, when the check failed."""
    got: str = ""
    """What the server (or the bridge in front of it) answered, when the check failed."""
    note: str = ""
    """A short observation of a passing check, or why a check was skipped."""
    seconds: float = 0.0
    skipped: bool = False
    """The check had nothing to check on this server; neither passed nor failed."""

    @property
    def status(self) -> str:
        """PASS, FAIL or SKIP."""
        return "SKIP" if self.skipped else "PASS" if self.passed else "FAIL"


@dataclass(frozen=True)
class Report:
    """Every check's result for one server."""

    address: str
    suite: Suite
    prefix: str
    results: tuple[CheckResult, ...]

    @property
    def passed(self) -> int:
        """How many checks passed."""
        return sum(result.passed for result in self.results)

    @property
    def skipped(self) -> int:
        """How many checks had nothing to check."""
        return sum(result.skipped for result in self.results)

    @property
    def failed(self) -> int:
        """How many checks failed."""
        return len(self.results) - self.passed - self.skipped

    @property
    def ok(self) -> bool:
        """True when checks ran, at least one passed and none failed."""
        return self.passed > 0 and self.failed == 0

    def text(self) -> str:
        """One line per check; a failure adds what was expected and what came instead."""
        width = max((len(result.id) for result in self.results), default=0)
        prefix = f" (prefix {self.prefix!r})" if self.suite == "shop" else ""
        lines = [f"conformance of {self.address}{prefix} to {AGAINST[self.suite]}", ""]
        for result in self.results:
            note = f"  [{result.note}]" if result.note else ""
            lines.append(f"{result.status}  {result.id:<{width}}  {result.title}{note}")
            if result.status == "FAIL":
                lines.append(f"      expected: {result.expected}")
                lines.append(f"      got:      {result.got}")
        lines.append("")
        verdict = "OK" if self.ok else "NOT CONFORMANT"
        skipped = f", {self.skipped} skipped" if self.skipped else ""
        lines.append(
            f"{len(self.results)} checks: {self.passed} passed, {self.failed} failed{skipped}: "
            f"{verdict}"
        )
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {
            "address": self.address,
            "suite": self.suite,
            "prefix": self.prefix,
            "against": AGAINST[self.suite],
            "ok": self.ok,
            "passed": self.passed,
            "failed": self.failed,
            "skipped": self.skipped,
            "checks": [{**asdict(result), "status": result.status} for result in self.results],
        }

    def json(self) -> str:
        """The report as indented JSON."""
        return orjson.dumps(self.as_dict(), option=orjson.OPT_INDENT_2).decode()
