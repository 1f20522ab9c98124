"""A conformance suite for ActionService implementations, in any language.

It checks a server of the example shop (examples/ACTIONS.md; expected values in
`jetbridge.conformance.spec`) directly over gRPC and through a bridge it starts itself:

    jetbridge conformance 127.0.0.1:50052 --prefix go_

or from Python:

    report = await jetbridge.conformance.run("127.0.0.1:50052", prefix="go_")
    print(report.text())
"""

from __future__ import annotations

from jetbridge.conformance import spec
from jetbridge.conformance._bridge import running_bridge
from jetbridge.conformance._check import Check, CheckFailed, Target
from jetbridge.conformance._cli import add_command, main
from jetbridge.conformance._report import CheckResult, Report
from jetbridge.conformance._runner import BRIDGE_CHECKS, GRPC_CHECKS, run, run_check

__all__ = [
    "BRIDGE_CHECKS",
    "GRPC_CHECKS",
    "Check",
    "CheckFailed",
    "CheckResult",
    "Report",
    "Target",
    "add_command",
    "main",
    "run",
    "run_check",
    "running_bridge",
    "spec",
]
