"""The example shop (examples/python/shop.py) behaves as documented."""

from __future__ import annotations

import pytest

from jetactions import (
    ActionServer,
    File,
    Option,
)
from jetactions.testing import ActionTester, Outcome
from tests.support import listing_of, load_shop, params_of

# --- the example shop -------------------------------------------------------------------


@pytest.fixture
def shop_tester() -> ActionTester:
    app: ActionServer = load_shop().build_app("")
    return ActionTester(app)


async def test_shop_lists_the_example_actions(shop_tester: ActionTester) -> None:
    listing = await listing_of(shop_tester)
    assert [a.name for a in listing.actions] == [
        "mail_users",
        "adjust_wallet",
        "export_users",
        "ship_order",
        "refresh_stats",
    ]
    assert params_of(listing, "mail_users") == {
        "subject": {"name": "subject", "field": "FIELD_TYPE_CHAR", "required": True},
        "body": {"name": "body", "field": "FIELD_TYPE_TEXT", "default_value": ""},
        "urgent": {"name": "urgent", "field": "FIELD_TYPE_BOOLEAN", "default_value": False},
    }
    assert params_of(listing, "ship_order")["city"]["options_from_server"] is True
    assert [(r.model, r.field) for r in listing.field_options] == [("orders", "city")]


async def test_shop_actions_behave_as_documented(shop_tester: ActionTester) -> None:
    mail = await shop_tester.execute(
        "mail_users", model="users", ids=[1, 3], inputs={"subject": "Hi"}
    )
    assert mail == Outcome(message="Mailed 2 users")
    inverse = await shop_tester.execute(
        "mail_users", model="users", ids=[1, "2"], inverse_ids=True, inputs={"subject": "Hi"}
    )
    assert inverse.message == "Mailed 3 users"
    unknown = await shop_tester.execute(
        "mail_users", model="users", ids=[9], inputs={"subject": "Hi"}
    )
    assert unknown.errors == {"non_field_errors": ["Unknown user id: 9"]}

    refused = await shop_tester.execute(
        "adjust_wallet", model="users", ids=[1], inputs={"amount": "0"}
    )
    assert refused.errors == {"amount": ["must be positive"]}
    adjusted = await shop_tester.execute(
        "adjust_wallet", model="users", ids=[2], inputs={"amount": 5}
    )
    assert adjusted == Outcome(html="Wallet of <strong>Brian</strong> was updated")

    export = await shop_tester.execute("export_users", model="users")
    assert export.file == File(
        "users.csv",
        b"id,name,email\n1,Ada,ada@example.com\n2,Brian,brian@example.com\n"
        b"3,Chen,chen@example.com\n4,Dana,dana@example.com\n5,Emil,emil@example.com\n",
        "text/csv",
    )

    shipped = await shop_tester.execute(
        "ship_order",
        model="orders",
        ids=[7],
        inputs={"carrier": "dhl", "country": "italy", "city": "rome"},
    )
    assert shipped.message == "Order 7 ships with DHL to Rome"
    wrong_city = await shop_tester.execute(
        "ship_order",
        model="orders",
        ids=[7],
        inputs={"carrier": "ups", "country": "uk", "city": "rome"},
    )
    assert wrong_city.errors == {"city": ["not a city of United Kingdom"]}
    bad_choice = await shop_tester.execute(
        "ship_order", model="orders", ids=[7], inputs={"carrier": "fedex", "country": "uk"}
    )
    assert bad_choice.errors == {
        "carrier": ["Select a valid choice. fedex is not one of the available choices."],
        "city": ["This field is required."],
    }
    assert (await shop_tester.execute("refresh_stats")) == Outcome(value=True)

    assert await shop_tester.field_options("orders", "city", {"country": "italy"}) == [
        Option("rome", "Rome", "red"),
        Option("milan", "Milan", "green"),
    ]
    assert [
        o.value for o in await shop_tester.field_options("orders", "city", {"country": "uk"})
    ] == [
        "london",
        "leeds",
    ]
    assert await shop_tester.field_options("orders", "city", {"country": "france"}) == []


async def test_shop_prefix_applies_to_actions_and_models() -> None:
    tester = ActionTester(load_shop().build_app("py_"))
    listing = await listing_of(tester)
    assert all(a.name.startswith("py_") for a in listing.actions)
    models = {m for a in listing.actions for m in a.model_action.models}
    assert models == {"py_users", "py_orders"}
    assert [(r.model, r.field) for r in listing.field_options] == [("py_orders", "city")]
    outcome = await tester.execute(
        "py_mail_users", model="py_users", ids=[1], inputs={"subject": "s"}
    )
    assert outcome.message == "Mailed 1 users"
