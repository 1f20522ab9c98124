"""The outcome of a run: one result per check, as text for people or JSON for machines."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import orjson

from jetbridge.conformance.spec import ACTIONS_DOC


@dataclass(frozen=True)
class CheckResult:
    """What one check found."""

    id: str
    title: str
    passed: bool
    expected: str = ""
    """What the spec says, when the check failed."""
    got: str = ""
    """What the server (or the bridge in front of it) answered, when the check failed."""
    note: str = ""
    """A short observation of a passing check."""
    seconds: float = 0.0


@dataclass(frozen=True)
class Report:
    """Every check's result for one server."""

    address: str
    prefix: str
    results: tuple[CheckResult, ...]

    @property
    def passed(self) -> int:
        """How many checks passed."""
        return sum(result.passed for result in self.results)

    @property
    def failed(self) -> int:
        """How many checks failed."""
        return len(self.results) - self.passed

    @property
    def ok(self) -> bool:
        """True when checks ran and every one passed."""
        return bool(self.results) and self.failed == 0

    def text(self) -> str:
        """One line per check; a failure adds what was expected and what came instead."""
        width = max((len(result.id) for result in self.results), default=0)
        lines = [
            f"conformance of {self.address} (prefix {self.prefix!r}) to {ACTIONS_DOC}",
            "",
        ]
        for result in self.results:
            status = "PASS" if result.passed else "FAIL"
            note = f"  [{result.note}]" if result.note else ""
            lines.append(f"{status}  {result.id:<{width}}  {result.title}{note}")
            if not result.passed:
                lines.append(f"      expected: {result.expected}")
                lines.append(f"      got:      {result.got}")
        lines.append("")
        verdict = "OK" if self.ok else "NOT CONFORMANT"
        lines.append(
            f"{len(self.results)} checks: {self.passed} passed, {self.failed} failed: {verdict}"
        )
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {
            "address": self.address,
            "prefix": self.prefix,
            "spec": ACTIONS_DOC,
            "ok": self.ok,
            "passed": self.passed,
            "failed": self.failed,
            "checks": [asdict(result) for result in self.results],
        }

    def json(self) -> str:
        """The report as indented JSON."""
        return orjson.dumps(self.as_dict(), option=orjson.OPT_INDENT_2).decode()
