"""What a handler knows about the call it serves.

Every action handler receives an ``ActionContext`` as its first argument and every field
options handler a ``FieldContext``. The same object is also reachable through ``current()``
while the handler runs, including from sync handlers in worker threads, so helpers deep in
the call stack need not pass it around.
"""

from __future__ import annotations

import contextvars
import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["ActionContext", "Caller", "FieldContext", "current"]


@dataclass(frozen=True)
class Caller:
    """Who asked the bridge, as far as the bridge knows.

    Args:
        auth_method: How the bridge authenticated the user: ``"jwt"``, ``"user_token"``,
            ``"project_token"``, ``"bearer"``, or ``""`` when unknown or auth is disabled.
        user_id: The Jet Admin user id, when the credential carries one.
        user_email: The Jet Admin user email, when the credential carries one.
        project: The Jet Admin project name.
        environment: The Jet Admin environment name.
        token: The raw credential; empty unless the bridge forwards it.
        claims: Every claim of a verified JWT.
    """

    auth_method: str = ""
    user_id: str = ""
    user_email: str = ""
    project: str = ""
    environment: str = ""
    token: str = dataclasses.field(default="", repr=False)
    claims: Mapping[str, Any] = dataclasses.field(default_factory=dict)


def _time_remaining(deadline: float | None) -> float | None:
    if deadline is None:
        return None
    return max(0.0, deadline - time.monotonic())


def _request_id(metadata: Mapping[str, str | bytes]) -> str:
    value = metadata.get("x-request-id", "")
    return value if isinstance(value, str) else value.decode(errors="replace")


@dataclass(frozen=True)
class ActionContext:
    """One run of an action.

    Args:
        action: The action's name.
        model: The collection the action runs on; empty for common actions.
        ids: The selected record ids, each keeping its JSON type (int, float or str).
        inverse_ids: True when the action targets every record except ``ids``.
        inputs: The form's inputs exactly as received, declared or not.
        params: The whole ``params`` object of Jet's message, unknown keys included.
        caller: Who is calling, or None when the bridge did not say.
        metadata: The call's gRPC metadata (first value per key; the bridge secret removed).
        deadline: The ``time.monotonic()`` value at which the caller gives up, or None.
    """

    action: str
    model: str = ""
    ids: list[int | float | str] = dataclasses.field(default_factory=list)
    inverse_ids: bool = False
    inputs: dict[str, Any] = dataclasses.field(default_factory=dict)
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    caller: Caller | None = None
    metadata: Mapping[str, str | bytes] = dataclasses.field(default_factory=dict)
    deadline: float | None = None

    @property
    def id(self) -> int | float | str | None:
        """The first selected id, or None when there is none."""
        return self.ids[0] if self.ids else None

    @property
    def request_id(self) -> str:
        """The call's ``x-request-id`` metadata (the bridge sends one per request), or ""."""
        return _request_id(self.metadata)

    def time_remaining(self) -> float | None:
        """Seconds left before the caller's deadline, or None when there is no deadline."""
        return _time_remaining(self.deadline)


@dataclass(frozen=True)
class FieldContext:
    """One request for the options of a select field.

    Args:
        model: The model (collection) of the field.
        field: The field's name.
        form: The values currently typed into the form, keyed by input name.
        params: The whole ``params`` object of Jet's message, unknown keys included.
        caller: Who is calling, or None when the bridge did not say.
        metadata: The call's gRPC metadata (first value per key; the bridge secret removed).
        deadline: The ``time.monotonic()`` value at which the caller gives up, or None.
    """

    model: str
    field: str
    form: dict[str, Any] = dataclasses.field(default_factory=dict)
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    caller: Caller | None = None
    metadata: Mapping[str, str | bytes] = dataclasses.field(default_factory=dict)
    deadline: float | None = None

    @property
    def request_id(self) -> str:
        """The call's ``x-request-id`` metadata (the bridge sends one per request), or ""."""
        return _request_id(self.metadata)

    def time_remaining(self) -> float | None:
        """Seconds left before the caller's deadline, or None when there is no deadline."""
        return _time_remaining(self.deadline)


# Set around every handler call. A contextvar (not a thread-local) follows the call into
# the worker thread of a sync handler because the server runs it in a copied context.
_current: contextvars.ContextVar[ActionContext | FieldContext] = contextvars.ContextVar(
    "jetactions_current"
)


def current() -> ActionContext | FieldContext:
    """Returns the context of the handler call in progress.

    Raises:
        RuntimeError: Called outside a handler.
    """
    try:
        return _current.get()
    except LookupError:
        raise RuntimeError("jetactions.context.current() called outside a handler") from None
