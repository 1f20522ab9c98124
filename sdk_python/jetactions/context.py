"""What a handler knows about the call it serves.

Every action handler receives an ``ActionContext`` as its first argument and every field
options handler a ``FieldContext``. The same object is also reachable through ``current()``
while the handler runs, including from sync handlers in worker threads, so helpers deep in
the call stack need not pass it around.
"""

from __future__ import annotations

import contextvars
import dataclasses
import enum
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

__all__ = ["ActionContext", "Caller", "FieldContext", "Selection", "SelectionKind", "current"]

RecordId = int | float | str
T = TypeVar("T")

# --- fields computed on first read ------------------------------------------------------------
#
# The server builds contexts with ``_prefilled``: the fields every call needs are set, and the
# others (``params``, ``metadata``, the caller's ``claims``) are converted from the request only
# when a handler first reads them; most handlers read few of them, and converting them all cost
# a large share of a call's CPU (bench/, scenario `floors`). ``__getattr__`` runs only for an
# attribute the instance lacks, so a field once read (or set by the constructor) costs nothing
# more; equality, ``repr``, ``dataclasses.replace`` and pickling read every field and so see the
# same values as for a context built by the constructor (tests/test_sdk_fastpaths.py).

_PENDING = "_jetactions_pending"
"""The instance's not yet computed fields: name -> the function that computes the value."""
_Prefilled = TypeVar("_Prefilled", bound="_LazyFields")


class _LazyFields:
    """The base of the dataclasses below: the means to leave some fields for first read."""

    __slots__ = ()

    @classmethod
    def _prefilled(
        cls: type[_Prefilled], fields: dict[str, Any], pending: dict[str, Callable[[], Any]]
    ) -> _Prefilled:
        """An instance with ``fields`` set as they are (no checks, as ``__init__`` does none)
        and each of ``pending`` computed on first read. Together they must name every field."""
        instance = object.__new__(cls)
        if pending:
            fields[_PENDING] = pending
        instance.__dict__.update(fields)
        return instance

    if not TYPE_CHECKING:  # for type checkers, an instance has its declared fields only

        def __getattr__(self, name: str) -> Any:
            pending = self.__dict__.get(_PENDING)
            compute = None if pending is None else pending.get(name)
            if compute is None:
                raise AttributeError(
                    f"{type(self).__name__!r} object has no attribute {name!r}", name=name, obj=self
                )
            # A handler's thread and the loop may both read it first: one value wins for both.
            value = self.__dict__.setdefault(name, compute())
            pending.pop(name, None)
            return value

    def __getstate__(self) -> dict[str, Any]:
        # Pickled and copied with every field computed, as the constructor would have set it.
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}  # type: ignore[arg-type]


@dataclass(frozen=True)
class Caller(_LazyFields):
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


class SelectionKind(enum.StrEnum):
    """What Jet's ``ids`` and ``inverseIds`` mean together."""

    NONE = "none"
    """No record: a common action, or a record action called without ids."""
    IDS = "ids"
    """Exactly the records in ``ids``."""
    ALL_EXCEPT = "all_except"
    """Every record of the model except those in ``ids`` (Jet's "select all", then untick)."""


# Jet sends ids as numbers or as strings: 1 and "1" are the same record.
_key = str


@dataclass(frozen=True)
class Selection:
    """Which records an action runs on; read it instead of ``ids`` and ``inverse_ids``.

    ``len(ctx.ids)`` is not the number of selected records when Jet sends "every record except
    these" (``ALL_EXCEPT``); ``select`` and ``in`` give the right answer in every case. Ids are
    compared by their text, so ``1`` and ``"1"`` are the same record.

    Example:
        ```python
        recipients = ctx.selection.select(users, key=lambda user: user.id)
        if 7 in ctx.selection: ...
        ```

    Args:
        kind: What ``ids`` means.
        ids: The ids Jet sent: the selected records (``IDS``) or the excluded ones
            (``ALL_EXCEPT``); empty for ``NONE``.
    """

    kind: SelectionKind
    ids: tuple[RecordId, ...] = ()

    @classmethod
    def of(cls, ids: Iterable[RecordId], inverse_ids: bool) -> Selection:
        """Returns the selection that Jet's ``ids`` and ``inverseIds`` describe."""
        listed = tuple(ids)
        if inverse_ids:
            return cls(SelectionKind.ALL_EXCEPT, listed)
        return cls(SelectionKind.IDS if listed else SelectionKind.NONE, listed)

    def __contains__(self, record_id: object) -> bool:
        """Whether the record with ``record_id`` is selected."""
        if self.kind is SelectionKind.NONE:
            return False
        listed = _key(record_id) in {_key(item) for item in self.ids}
        return listed if self.kind is SelectionKind.IDS else not listed

    def select(self, records: Iterable[T], key: Callable[[T], object] | None = None) -> list[T]:
        """Returns the selected ones of ``records`` (all the model's records, or a superset
        of the selection), in their order; ``key`` gives a record's id (the record itself by
        default: pass plain ids)."""
        if self.kind is SelectionKind.NONE:
            return []
        listed = {_key(item) for item in self.ids}
        if self.kind is SelectionKind.IDS:
            if key is None:
                return [record for record in records if _key(record) in listed]
            return [record for record in records if _key(key(record)) in listed]
        if key is None:
            return [record for record in records if _key(record) not in listed]
        return [record for record in records if _key(key(record)) not in listed]


def _time_remaining(deadline: float | None) -> float | None:
    if deadline is None:
        return None
    return max(0.0, deadline - time.monotonic())


def _request_id(metadata: Mapping[str, str | bytes]) -> str:
    value = metadata.get("x-request-id", "")
    return value if isinstance(value, str) else value.decode(errors="replace")


@dataclass(frozen=True)
class ActionContext(_LazyFields):
    """One run of an action.

    Args:
        action: The action's name.
        model: The collection the action runs on; empty for common actions.
        ids: The record ids Jet sent, each keeping its JSON type (int, float or str): the
            selected records, or with ``inverse_ids`` the excluded ones. ``selection`` says
            which.
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
    def selection(self) -> Selection:
        """Which records the action runs on: ``ids`` read together with ``inverse_ids``."""
        return Selection.of(self.ids, self.inverse_ids)

    @property
    def id(self) -> int | float | str | None:
        """The first id Jet sent, or None when there is none (with ``inverse_ids``, the first
        excluded record: read ``selection`` for bulk actions)."""
        return self.ids[0] if self.ids else None

    @property
    def request_id(self) -> str:
        """The call's ``x-request-id`` metadata (the bridge sends one per request), or ""."""
        return _request_id(self.metadata)

    def time_remaining(self) -> float | None:
        """Seconds left before the caller's deadline, or None when there is no deadline."""
        return _time_remaining(self.deadline)


@dataclass(frozen=True)
class FieldContext(_LazyFields):
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
