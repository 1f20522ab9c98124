"""A conformance suite for ActionService implementations, in any language.

It checks a server directly over gRPC and through a bridge it starts itself. The generic suite
(the default) needs nothing but the server: its expectations follow from the contract and from
what the server declares. The shop suite checks the example shop of examples/ACTIONS.md exactly
(expected values in `jetconformance.shop.spec`):

    jetbridge conformance 127.0.0.1:50052 --exclude delete_everything
    jetbridge conformance 127.0.0.1:50052 --spec shop --prefix go_

or from Python:

    report = await jetconformance.run("127.0.0.1:50052")
    print(report.text())

It is a distribution of its own (`pip install jetbridge[conformance]`), so that a serving bridge
never loads it.
"""

from __future__ import annotations

from jetconformance import generic, shop
from jetconformance._bridge import running_bridge
from jetconformance._registry import Check, Layer, Suite, check, checks, find
from jetconformance._report import CheckResult, Report
from jetconformance._runner import run, run_check
from jetconformance._target import CheckFailed, CheckSkipped, Target, open_channel
from jetconformance._version import __version__ as __version__

__all__ = [
    "Check",
    "CheckFailed",
    "CheckResult",
    "CheckSkipped",
    "Layer",
    "Report",
    "Suite",
    "Target",
    "check",
    "checks",
    "find",
    "generic",
    "open_channel",
    "run",
    "run_check",
    "running_bridge",
    "shop",
]
