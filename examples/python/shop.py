"""The example shop (examples/ACTIONS.md) as a Python action server.

Run it and point the bridge at it:

    python examples/python/shop.py --address 127.0.0.1:50051 [--prefix py_]
"""

from __future__ import annotations

import argparse
import csv
import html
import io
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated

from jetactions import (
    ActionContext,
    ActionServer,
    FieldContext,
    FieldErrors,
    FieldType,
    File,
    Option,
    Param,
    Result,
)

CARRIERS = [Option("dhl", "DHL"), Option("ups", "UPS")]
COUNTRIES = [Option("italy", "Italy"), Option("uk", "United Kingdom")]
CITIES = {
    "italy": [Option("rome", "Rome", "red"), Option("milan", "Milan", "green")],
    "uk": [Option("london", "London", "blue"), Option("leeds", "Leeds", "yellow")],
}


@dataclass
class User:
    id: int
    name: str
    email: str
    wallet: Decimal


def initial_users() -> dict[int, User]:
    """The users every start begins with."""
    users = [
        User(1, "Ada", "ada@example.com", Decimal("10.00")),
        User(2, "Brian", "brian@example.com", Decimal("0.00")),
        User(3, "Chen", "chen@example.com", Decimal("25.50")),
        User(4, "Dana", "dana@example.com", Decimal("3.75")),
        User(5, "Emil", "emil@example.com", Decimal("100.00")),
    ]
    return {user.id: user for user in users}


def _name_of(options: Sequence[Option], value: str) -> str:
    return next((option.name for option in options if option.value == value), value)


def build_app(prefix: str = "") -> ActionServer:
    """Builds the shop; ``prefix`` goes in front of every action and model name."""
    app = ActionServer(name=f"{prefix}shop")
    users = initial_users()

    def find_user(record_id: int | float | str) -> User:
        # Jet may send ids as numbers or as strings; "1" and 1 are the same user.
        user = next((u for u in users.values() if str(u.id) == str(record_id)), None)
        if user is None:
            raise FieldErrors(non_field_errors=[f"Unknown user id: {record_id}"])
        return user

    @app.model_action(
        f"{prefix}users",
        name=f"{prefix}mail_users",
        for_instance=True,
        bulk=True,
        label="Mail users",
        icon="email",
    )
    async def mail_users(
        ctx: ActionContext,
        subject: str,
        body: Annotated[str, Param(field=FieldType.TEXT)] = "",
        urgent: bool = False,
    ) -> Result:
        for record_id in ctx.ids:
            find_user(record_id)  # every id Jet sent must name a user, selected or excluded
        # ctx.selection reads ids with inverse_ids: "all except these" counts right too.
        recipients = ctx.selection.select(users)  # the selected ones of all user ids
        return Result(message=f"Mailed {len(recipients)} users")

    @app.model_action(
        f"{prefix}users", name=f"{prefix}adjust_wallet", for_instance=True, label="Adjust wallet"
    )
    async def adjust_wallet(ctx: ActionContext, amount: Decimal) -> Result:
        if amount <= 0:
            raise FieldErrors.single("amount", "must be positive")
        if ctx.id is None:
            raise FieldErrors(non_field_errors=["Select a user"])
        user = find_user(ctx.id)
        user.wallet += amount
        return Result(html=f"Wallet of <strong>{html.escape(user.name)}</strong> was updated")

    @app.model_action(f"{prefix}users", name=f"{prefix}export_users", label="Export users")
    async def export_users(ctx: ActionContext) -> File:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["id", "name", "email"])
        for user in users.values():
            writer.writerow([user.id, user.name, user.email])
        return File("users.csv", out.getvalue(), "text/csv")

    @app.model_action(
        f"{prefix}orders", name=f"{prefix}ship_order", for_instance=True, label="Ship order"
    )
    async def ship_order(
        ctx: ActionContext,
        carrier: Annotated[str, Param(options=CARRIERS)],
        country: Annotated[str, Param(options=COUNTRIES)],
        city: Annotated[str, Param(options_from_server=True)],
    ) -> Result:
        if ctx.id is None:
            raise FieldErrors(non_field_errors=["Select an order"])
        country_cities = CITIES.get(country, [])
        if city not in (option.value for option in country_cities):
            raise FieldErrors.single("city", f"not a city of {_name_of(COUNTRIES, country)}")
        # Named as the user saw them on the form ("DHL", "Rome"), not by their values.
        carrier_name = _name_of(CARRIERS, carrier)
        return Result(
            message=f"Order {ctx.id} ships with {carrier_name} to {_name_of(country_cities, city)}"
        )

    @app.common_action(name=f"{prefix}refresh_stats", label="Refresh stats")
    def refresh_stats(ctx: ActionContext) -> bool:
        # Synchronous on purpose: the SDK runs it in a worker thread.
        return True

    @app.field_options(f"{prefix}orders", "city")
    async def cities(ctx: FieldContext) -> list[Option]:
        return CITIES.get(str(ctx.form.get("country", "")), [])

    return app


def main(argv: Sequence[str] | None = None) -> None:
    """Parses the command line and serves the shop until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(description="The example shop as a Jet action server.")
    parser.add_argument(
        "--address",
        default=os.environ.get("JETACTIONS_ADDRESS", "127.0.0.1:50051"),
        help="host:port to listen on (env JETACTIONS_ADDRESS; default 127.0.0.1:50051)",
    )
    parser.add_argument(
        "--prefix",
        default=os.environ.get("JETACTIONS_PREFIX", ""),
        help="put in front of every action and model name (env JETACTIONS_PREFIX)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    build_app(args.prefix).run(args.address)


if __name__ == "__main__":
    main()
