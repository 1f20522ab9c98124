"""What the conformance suite expects: the example shop of examples/ACTIONS.md, as data.

Every expected value the checks compare against comes from this module, so a reader can see
exactly what is checked without reading the checks. When examples/ACTIONS.md changes, this module
changes with it. Names are given without the server's prefix; `Shop` adds it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from jetactions import FieldType
from jetactions.v1 import actions_pb2


@dataclass(frozen=True)
class User:
    """One row of the users table every server starts with."""

    id: int
    name: str
    email: str
    wallet: str


USERS: Final = (
    User(1, "Ada", "ada@example.com", "10.00"),
    User(2, "Brian", "brian@example.com", "0.00"),
    User(3, "Chen", "chen@example.com", "25.50"),
    User(4, "Dana", "dana@example.com", "3.75"),
    User(5, "Emil", "emil@example.com", "100.00"),
)


@dataclass(frozen=True)
class OptionSpec:
    """One select option: the stored value, the shown name and an optional colour."""

    value: str
    name: str
    color: str = ""

    def as_json(self) -> dict[str, str]:
        """The option as Jet Admin receives it (no `color` key when there is none)."""
        data = {"value": self.value, "name": self.name}
        if self.color:
            data["color"] = self.color
        return data


CARRIERS: Final = (OptionSpec("dhl", "DHL"), OptionSpec("ups", "UPS"))
COUNTRIES: Final = (OptionSpec("italy", "Italy"), OptionSpec("uk", "United Kingdom"))
CITIES: Final[Mapping[str, tuple[OptionSpec, ...]]] = {
    "italy": (OptionSpec("rome", "Rome", "red"), OptionSpec("milan", "Milan", "green")),
    "uk": (OptionSpec("london", "London", "blue"), OptionSpec("leeds", "Leeds", "yellow")),
}
"""GetFieldOptions for (orders, city) by form.country; any other country has no cities."""


class _NoDefault:
    def __repr__(self) -> str:
        return "no default"


NO_DEFAULT: Final = _NoDefault()
"""A param declared without a default value."""


@dataclass(frozen=True)
class ParamSpec:
    """One input of an action's form."""

    name: str
    field: str
    """Jet Admin's field name, as `jetactions.FieldType` spells it."""
    required: bool
    default: Any = NO_DEFAULT
    options: tuple[OptionSpec, ...] = ()
    options_from_server: bool = False

    @property
    def field_type(self) -> actions_pb2.FieldType.ValueType:
        """The contract's FieldType value."""
        return FieldType(self.field).proto


@dataclass(frozen=True)
class ActionSpec:
    """One action, in ListActions order."""

    name: str
    label: str
    model: str | None
    """The one model of a model action; None for a common action."""
    for_instance: bool = False
    bulk: bool = False
    icon: str | None = None
    """Checked only when ACTIONS.md names an icon."""
    params: tuple[ParamSpec, ...] = ()


ACTIONS: Final = (
    ActionSpec(
        "mail_users",
        "Mail users",
        "users",
        for_instance=True,
        bulk=True,
        icon="email",
        params=(
            ParamSpec("subject", "CharField", required=True),
            ParamSpec("body", "TextField", required=False, default=""),
            ParamSpec("urgent", "BooleanField", required=False, default=False),
        ),
    ),
    ActionSpec(
        "adjust_wallet",
        "Adjust wallet",
        "users",
        for_instance=True,
        params=(ParamSpec("amount", "DecimalField", required=True),),
    ),
    ActionSpec("export_users", "Export users", "users"),
    ActionSpec(
        "ship_order",
        "Ship order",
        "orders",
        for_instance=True,
        params=(
            ParamSpec("carrier", "SelectField", required=True, options=CARRIERS),
            ParamSpec("country", "SelectField", required=True, options=COUNTRIES),
            ParamSpec("city", "SelectField", required=True, options_from_server=True),
        ),
    ),
    ActionSpec("refresh_stats", "Refresh stats", None),
)

FIELD_OPTIONS: Final = (("orders", "city"),)
"""The (model, field) pairs declared in ListActions.field_options."""

EXPORT_FILENAME: Final = "users.csv"
EXPORT_CONTENT_TYPE: Final = "text/csv"
AMOUNT_ERROR: Final = "must be positive"
"""adjust_wallet's error on `amount` when amount <= 0."""


def mailed(count: int) -> str:
    """mail_users' message for `count` users."""
    return f"Mailed {count} users"


def wallet_updated(user: User) -> str:
    """adjust_wallet's html for the first selected user."""
    return f"Wallet of <strong>{user.name}</strong> was updated"


def shipped(order_id: object, carrier: OptionSpec, city: OptionSpec) -> str:
    """ship_order's message: the order id as sent, the options by their names."""
    return f"Order {order_id} ships with {carrier.name} to {city.name}"


def unknown_user(record_id: object) -> str:
    """mail_users' non-field error for an id that is not a user."""
    return f"Unknown user id: {record_id}"


def export_csv() -> bytes:
    """export_users' file: a header and one line per user, `\\n` endings, trailing newline."""
    lines = ["id,name,email", *(f"{u.id},{u.name},{u.email}" for u in USERS)]
    return ("\n".join(lines) + "\n").encode()


def user(user_id: int) -> User:
    """The user with this id."""
    return next(u for u in USERS if u.id == user_id)


@dataclass(frozen=True)
class Shop:
    """The shop as one server serves it: every action and model name starts with `prefix`."""

    prefix: str = ""

    def action(self, name: str) -> str:
        """An action's name as this server declares it."""
        return self.prefix + name

    def model(self, name: str) -> str:
        """A model's name as this server declares it."""
        return self.prefix + name

    def spec(self, name: str) -> ActionSpec:
        """The unprefixed specification of one action."""
        return next(a for a in ACTIONS if a.name == name)
