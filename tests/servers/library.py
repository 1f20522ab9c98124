"""A lending library as an action server: the generic conformance suite's second domain.

It uses what the example shop does not: dates, times, integers, floats, JSON, a ForeignKey, an
Enum select, options from the server on a common action, an action on two models, and the
shared secret.

Run: python tests/servers/library.py --address 127.0.0.1:PORT [--secret SECRET]
"""

from __future__ import annotations

import argparse
import datetime
import enum
from typing import Annotated, Any

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

BRANCHES = {"north": "North branch", "south": "South branch"}
BOOKS = {1: "Dune", 2: "Emma", 3: "Ulysses"}


class Reason(enum.Enum):
    LATE = "late"
    DAMAGED = "damaged"


def build_app() -> ActionServer:
    app = ActionServer(name="library")
    loans: dict[int, datetime.date] = {}

    @app.model_action("books", for_instance=True, label="Lend book", icon="book")
    async def lend_book(
        ctx: ActionContext,
        member: Annotated[int, Param(field=FieldType.FOREIGN_KEY, related_model="members")],
        due: datetime.date,
        note: Annotated[str, Param(field=FieldType.TEXT)] = "",
    ) -> Result:
        book = BOOKS.get(int(str(ctx.id)))
        if book is None:
            raise FieldErrors(non_field_errors=[f"No book with id {ctx.id}"])
        loans[int(str(ctx.id))] = due
        return Result(message=f"{book} lent to member {member} until {due.isoformat()}")

    @app.model_action("loans", "overdue_loans", for_instance=True, bulk=True, label="Renew")
    async def renew_loans(
        ctx: ActionContext, days: int, at: datetime.time | None = None
    ) -> dict[str, Any]:
        if not 1 <= days <= 30:
            raise FieldErrors.single("days", "Renew for 1 to 30 days.")
        return {"result": len(ctx.ids), "message": f"Renewed {len(ctx.ids)} loans by {days} days"}

    @app.common_action(label="Fine member")
    async def fine_member(
        ctx: ActionContext,
        amount: float,
        reason: Reason,
        branch: Annotated[str, Param(options_from_server=True)],
        when: datetime.datetime | None = None,
    ) -> Result:
        if branch not in BRANCHES:
            raise FieldErrors.single("branch", "Unknown branch.")
        return Result(html=f"Fined <b>{amount:.2f}</b> ({reason.value}) at {BRANCHES[branch]}")

    @app.field_options("", "branch")
    def branches(ctx: FieldContext) -> list[Option]:
        return [Option(value, name) for value, name in BRANCHES.items()]

    @app.common_action(label="Import catalogue")
    async def import_catalogue(ctx: ActionContext, entries: list[Any], dry_run: bool) -> Result:
        return Result(message=f"{'Would import' if dry_run else 'Imported'} {len(entries)}")

    @app.common_action(label="Export loans")
    def export_loans(ctx: ActionContext) -> File:
        lines = [f"{book},{due.isoformat()}" for book, due in sorted(loans.items())]
        return File("loans.csv", "\n".join(["book,due", *lines]) + "\n")

    @app.common_action
    def opening_hours(ctx: ActionContext) -> dict[str, Any]:
        return {"result": True, "hours": {"north": "9-17", "south": "10-18"}}

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", default="127.0.0.1:50070")
    parser.add_argument("--secret", default="", help="require this shared secret")
    args = parser.parse_args()
    # Explicit, so the tests do not depend on the environment the SDK reads by default.
    build_app().run(args.address, bridge_secret=args.secret)


if __name__ == "__main__":
    main()
