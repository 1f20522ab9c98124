"""The generic suite (the default): any ActionService server, from what it declares.

Every expectation follows from the contract (proto/jetactions/v1/actions.proto) and the server's
own ListActions: the listing is well formed, every action answers valid inputs with an outcome and
wrong ones with field errors, field-option sources answer, unknown actions are NOT_FOUND,
deadlines are honoured, health, reflection and the shared secret work, and all of it looks right
through a bridge.
"""

from __future__ import annotations

# Importing the check modules registers their checks.
from jetconformance.generic import _bridge_checks, _grpc_checks  # noqa: F401
