"""The example shop's suite (`--spec shop`): the exact answers of examples/ACTIONS.md.

Expected values live in `jetconformance.shop.spec`, the checks in this package's modules.
"""

from __future__ import annotations

# Importing the check modules registers their checks.
from jetconformance.shop import _bridge_checks, _grpc_checks, spec  # noqa: F401

__all__ = ["spec"]
