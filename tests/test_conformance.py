"""The conformance suite: conformant servers pass it, and every check in it can fail.

The servers run as real processes on loopback ports: the three example shops (`--spec shop`),
and the Python shop, tests/servers/billing.py and tests/servers/library.py for the generic
checks. The negative tests put deliberately broken servers in front of the suite: the Python
example behind a relay that adds one defect per check (each check must fail on its defect), a
fake HTTP/2 server that ignores deadlines, and the command line run with wrong arguments.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import orjson
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2

import jetconformance
from jetactions.contract import SERVICE_NAME
from jetactions.v1 import actions_pb2, actions_pb2_grpc
from jetbridge.convert import fill_value, from_struct, from_value
from jetconformance import Suite, Target, checks, find, open_channel, run_check
from jetconformance import running_bridge as start_bridge
from jetconformance.shop import spec
from tests.support import (
    GO_SHOP,
    LOGS,
    NODE_SHOP,
    ROOT,
    SHOP,
    ActionServerProcess,
    require_built,
    wait_until,
)

# The example servers as processes ---------------------------------------------------------


@dataclass
class BuiltServer:
    """A Go or Node example started on a port of its own choosing (`--address 127.0.0.1:0`)."""

    command: list[str]
    name: str
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    address: str = ""

    def start(self, timeout: float = 20.0) -> None:
        """Start it and wait for its `serving on HOST:PORT` (or `listening on HOST:PORT`) line."""
        LOGS.mkdir(parents=True, exist_ok=True)
        path = LOGS / f"{self.name}-{os.getpid()}-{time.monotonic_ns()}.log"
        with path.open("wb") as log:
            # stdout goes to a file, so that a chatty server never blocks on a full pipe.
            self.process = subprocess.Popen(
                [*self.command, "--address", "127.0.0.1:0"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env},
            )

        def output() -> str:
            return path.read_text(errors="replace")

        found = wait_until(
            lambda: re.search(r"(?:serving|listening) on ([\d.]+:\d+)", output()),
            f"address line of {self.name}",
            timeout,
            self.process,
            output,
        )
        self.address = found.group(1)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it is still running after a few seconds."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


@contextlib.contextmanager
def example_server(language: str, prefix: str) -> Iterator[str]:
    """Run one example server as a process; yields its address."""
    if language == "python":
        python = ActionServerProcess(SHOP, ("--prefix", prefix))
        python.start()
        try:
            yield python.address
        finally:
            python.stop()
        return
    if language == "go":
        require_built(GO_SHOP)
        server = BuiltServer([str(GO_SHOP), "--prefix", prefix], "go-shop")
    else:
        require_built(NODE_SHOP)
        server = BuiltServer(["node", str(NODE_SHOP), "--prefix", prefix], "node-shop")
    server.start()
    try:
        yield server.address
    finally:
        server.stop()


EXAMPLES = {"python": "py_", "go": "go_", "node": ""}
"""Each example with the prefix it is tested with (one without, to check the plain names)."""


@dataclass(frozen=True)
class Example:
    """One example server running as a process."""

    language: str
    address: str
    prefix: str


@pytest.fixture(params=sorted(EXAMPLES))
def example(request: pytest.FixtureRequest) -> Iterator[Example]:
    """One example server, started with the prefix it is tested with."""
    language = str(request.param)
    with example_server(language, EXAMPLES[language]) as address:
        yield Example(language, address, EXAMPLES[language])


async def test_example_server_passes_the_shop_suite(example: Example) -> None:
    report = await jetconformance.run(example.address, suite="shop", prefix=example.prefix)
    assert [r.id for r in report.results] == [c.id for c in checks("shop")]
    assert report.ok, report.text()
    assert report.passed == len(checks("shop"))


# The generic suite: any server, from what it declares -------------------------------------


async def test_example_server_passes_the_generic_suite(example: Example) -> None:
    report = await jetconformance.run(example.address)
    assert report.ok, report.text()
    assert {r.id for r in report.results if r.skipped} == {"grpc.secret"}, report.text()


LIBRARY = ROOT / "tests" / "servers" / "library.py"
SECRET = "conformance-secret-1234"
BILLING_EXCLUDES = ("crash", "fail_with", "flaky", "flaky_idempotent", "slow", "cancellable")
"""billing.py's actions that fail or sleep on purpose (made for the bridge's fault tests)."""


@pytest.fixture(scope="module")
def library() -> Iterator[ActionServerProcess]:
    """A lending library that requires the shared secret."""
    server = ActionServerProcess(LIBRARY, ("--secret", SECRET))
    server.start()
    yield server
    server.stop()


@dataclass(frozen=True)
class GenericCase:
    """One server for the generic suite: what the run is told, and what it cannot check."""

    exclude: tuple[str, ...] = ()
    secret: str = ""
    skipped: frozenset[str] = frozenset()


GENERIC_CASES = {
    "shop": GenericCase(skipped=frozenset({"grpc.secret"})),
    "billing": GenericCase(
        exclude=BILLING_EXCLUDES,
        skipped=frozenset({"grpc.secret", "grpc.field_options", "bridge.field_options"}),
    ),
    "library": GenericCase(secret=SECRET),
}


GO_LIBRARY = ROOT / "tests" / "servers" / "go_library" / "bin" / "library"
NODE_EVENTS = ROOT / "tests" / "servers" / "node_events" / "dist" / "server.js"
# Test servers of the Go and TypeScript SDKs, in other domains than the shop: each language's
# SDK must make a server that the generic suite passes, side effects excluded.
BUILT_CASES = {
    "go_library": (
        [str(GO_LIBRARY)],
        GenericCase(exclude=("lend_book",), secret=SECRET),
    ),
    "node_events": (
        ["node", str(NODE_EVENTS)],
        GenericCase(exclude=("book_tickets",), secret=SECRET),
    ),
}


@pytest.mark.parametrize("name", sorted(GENERIC_CASES) + sorted(BUILT_CASES))
async def test_a_conformant_server_passes_the_generic_suite(
    name: str, request: pytest.FixtureRequest
) -> None:
    if name in BUILT_CASES:
        argv, case = BUILT_CASES[name]
        require_built(Path(argv[0] if argv[0] != "node" else argv[1]))
        built = BuiltServer(argv, name, env={"JETBRIDGE_SECRET": SECRET})
        built.start()
        request.addfinalizer(built.stop)
        address = built.address
    else:
        server: ActionServerProcess = request.getfixturevalue(name)
        case = GENERIC_CASES[name]
        address = server.address
    report = await jetconformance.run(address, exclude=case.exclude, secret=case.secret)
    assert [r.id for r in report.results] == [c.id for c in checks("generic")]
    assert report.ok, report.text()
    assert {r.id for r in report.results if r.skipped} == case.skipped, report.text()
    assert report.passed == len(checks("generic")) - len(case.skipped)


async def test_billing_without_excludes_names_every_failing_action(
    billing: ActionServerProcess,
) -> None:
    report = await jetconformance.run(billing.address, grpc_checks=True, bridge_checks=False)
    failed = {r.id: r for r in report.results if not r.passed and not r.skipped}
    assert set(failed) == {"grpc.execute.well_typed"}, report.text()
    got = failed["grpc.execute.well_typed"].got
    assert "crash" in got
    assert "fail_with" in got


# The command line ---------------------------------------------------------------------------


def jetbridge(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jetbridge", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        # The secret comes from the test, never from the environment the tests run in.
        env={**{k: v for k, v in os.environ.items() if k != "JETBRIDGE_SECRET"}, **(env or {})},
    )


def test_command_runs_the_generic_suite_by_default(shop: ActionServerProcess) -> None:
    result = jetbridge("conformance", shop.address, "--grpc-only")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    grpc_checks = checks("generic", "grpc")
    assert lines[0].startswith(f"conformance of {shop.address} to the ActionService contract")
    assert sum(line.startswith(("PASS  grpc.", "SKIP  grpc.")) for line in lines) == len(
        grpc_checks
    )
    assert any(line.startswith("SKIP  grpc.secret") for line in lines)
    assert not any(line.startswith(("FAIL", "PASS  bridge.")) for line in lines)
    total = len(grpc_checks)
    assert lines[-1] == f"{total} checks: {total - 1} passed, 0 failed, 1 skipped: OK"


def test_command_excludes_actions(billing: ActionServerProcess) -> None:
    excluded = [arg for name in BILLING_EXCLUDES for arg in ("--exclude", name)]
    result = jetbridge("conformance", billing.address, *excluded, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = orjson.loads(result.stdout)
    assert report["suite"] == "generic"
    assert report["ok"] is True
    assert report["failed"] == 0
    well_typed = next(c for c in report["checks"] if c["id"] == "grpc.execute.well_typed")
    assert "excluded" in well_typed["note"]
    assert "crash" in well_typed["note"]

    result = jetbridge("conformance", billing.address, "--exclude", "slow", "--grpc-only")
    assert result.returncode == 1
    assert "FAIL  grpc.execute.well_typed" in result.stdout


def test_command_sends_the_secret(library: ActionServerProcess) -> None:
    flag = jetbridge("conformance", library.address, "--secret", SECRET, "--bridge-only")
    assert flag.returncode == 0, flag.stdout + flag.stderr
    env = jetbridge("conformance", library.address, "--grpc-only", env={"JETBRIDGE_SECRET": SECRET})
    assert env.returncode == 0, env.stdout + env.stderr
    assert "PASS  grpc.secret" in env.stdout
    # Without it the library refuses every ActionService call.
    without = jetbridge("conformance", library.address, "--grpc-only")
    assert without.returncode == 1
    assert "UNAUTHENTICATED" in without.stdout


def test_command_fails_with_the_wrong_prefix(shop: ActionServerProcess) -> None:
    # The shop serves `mail_users`; told to expect `go_mail_users`, the suite must say so.
    result = jetbridge("conformance", shop.address, "--spec", "shop", "--prefix", "go_")
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"conformance of {shop.address} (prefix 'go_') to the example shop " + (
        "(examples/ACTIONS.md)"
    )
    names = lines.index(next(line for line in lines if line.startswith("FAIL  grpc.list.names")))
    assert "'go_mail_users'" in lines[names + 1]
    assert lines[names + 1].lstrip().startswith("expected: action names = ")
    assert "'mail_users'" in lines[names + 2]
    assert lines[names + 2].lstrip().startswith("got:")
    assert any(line.startswith("FAIL  bridge.action_list.names") for line in lines)
    assert any(line.startswith("PASS  grpc.health") for line in lines)  # not everything fails
    assert lines[-1].endswith("NOT CONFORMANT")

    as_json = jetbridge(
        "conformance", shop.address, "--spec", "shop", "--prefix", "go_", "--bridge-only", "--json"
    )
    assert as_json.returncode == 1
    report = orjson.loads(as_json.stdout)
    assert report["ok"] is False
    assert report["suite"] == "shop"
    assert report["failed"] > 0
    assert {check["id"] for check in report["checks"]} == {c.id for c in checks("shop", "bridge")}
    failed = next(c for c in report["checks"] if c["id"] == "bridge.action_list.names")
    assert failed["passed"] is False
    assert failed["status"] == "FAIL"
    assert "go_mail_users" in failed["expected"]


def test_command_verbose_shows_the_bridge_log(shop: ActionServerProcess) -> None:
    result = jetbridge("conformance", shop.address, "--bridge-only", "--verbose")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "discovery done" in result.stderr
    quiet = jetbridge("conformance", shop.address, "--bridge-only")
    assert "discovery done" not in quiet.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--prefix", "go_"], "--prefix needs --spec shop"),
        (["--spec", "shop", "--exclude", "x"], "--exclude is for the generic checks"),
        (["--spec", "bakery"], "invalid choice"),
        (["--grpc-only", "--bridge-only"], "not allowed with"),
    ],
)
def test_command_refuses_wrong_arguments(args: list[str], message: str) -> None:
    result = jetbridge("conformance", "127.0.0.1:9", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stderr.startswith("usage: jetbridge conformance")


def test_command_help_lists_the_suite() -> None:
    assert "conformance" in jetbridge("--help").stdout
    result = jetbridge("conformance", "--help")
    assert result.returncode == 0
    assert "--spec {shop}" in result.stdout
    assert "--exclude ACTION" in result.stdout


def test_command_without_the_package_says_how_to_install_it() -> None:
    # None in sys.modules makes `import jetconformance` fail as if it were not installed.
    code = (
        "import sys; sys.modules['jetconformance'] = None\n"
        "from jetbridge import cli\n"
        "cli.main(['conformance', '127.0.0.1:9'])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "jetbridge: the conformance suite is not installed: pip install jetbridge[conformance]"
    )


def test_serve_does_not_import_the_suite() -> None:
    # What `jetbridge serve` runs before it listens: the parser, the settings and the app.
    code = (
        "import sys\n"
        "from jetbridge import cli, config\n"
        "from jetbridge.app import create_app\n"
        "args = cli.build_parser().parse_args(['serve', '--service', '127.0.0.1:9', "
        "'--disable-auth'])\n"
        "create_app(config.load_settings(config.flags_from(args)))\n"
        "print(sorted(m for m in sys.modules if m.startswith('jetconformance')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_a_check_id_is_registered_once() -> None:
    async def again(target: Target) -> None:
        return None

    with pytest.raises(ValueError, match=r"two checks named 'grpc\.health'"):
        jetconformance.check("generic", "grpc", "grpc.health", "again")(again)


# Every check can fail -----------------------------------------------------------------------
#
# A relay forwards every call to the Python example and breaks one thing on the way: a
# declaration, a request, an answer, or a service it should serve. The relay with no defect
# passes both suites; with the defect written for a check, that check must fail. A check
# without a defect fails the test.

Listing = actions_pb2.ListActionsResponse
Request = actions_pb2.ExecuteActionRequest
Response = actions_pb2.ExecuteActionResponse
Options = actions_pb2.GetFieldOptionsResponse


@dataclass(frozen=True)
class Defect:
    """One way a server may deviate from the contract or the spec; hooks change messages in
    place."""

    listing: Callable[[Listing], None] | None = None
    listing_from_call: int = 1
    """The ListActions call from which `listing` applies (2: the first answer is right)."""
    request: Callable[[Request], None] | None = None
    response: Callable[[Request, Response], None] | None = None
    options: Callable[[str, Options], None] | None = None
    refuse: Callable[[float | None], grpc.StatusCode | None] | None = None
    """Refuse calls by their time remaining (seconds, or None without a deadline)."""
    not_found_as: grpc.StatusCode | None = None
    list_fails: bool = False
    not_serving: bool = False
    wedge_after_short_deadline: bool = False
    crash_on: str = ""
    """An action whose every call ends with INTERNAL, as an uncaught exception does."""
    options_fail: bool = False
    reflection: str | None = "v1alpha"
    """The server reflection version served, or None."""
    claimed_secret: str = ""
    """A secret the run is told the server requires; the relay requires none."""


def _action(listing: Listing, name: str) -> actions_pb2.Action:
    return next(action for action in listing.actions if action.name == name)


def _ids(request: Request) -> list[Any]:
    return [from_value(value) for value in request.ids]


def _errors(response: Response, message: str) -> None:
    response.Clear()
    response.errors.non_field_errors.append(message)


def swap_export_and_ship(listing: Listing) -> None:
    actions = list(listing.actions)
    actions[2], actions[3] = actions[3], actions[2]
    del listing.actions[:]
    listing.actions.extend(actions)


def bulk_adjust_wallet(listing: Listing) -> None:
    _action(listing, "adjust_wallet").model_action.bulk = True


def relabel_ship_order(listing: Listing) -> None:
    _action(listing, "ship_order").label = "Ship orders"


def no_default_for_urgent(listing: Listing) -> None:
    _action(listing, "mail_users").params[2].ClearField("default_value")


def extra_field_options(listing: Listing) -> None:
    listing.field_options.add(model="orders", field="country")


def country_from_server(listing: Listing) -> None:
    _action(listing, "ship_order").params[1].options_from_server = True


def extra_action(listing: Listing) -> None:
    listing.actions.add(name="debug_reset", common_action=actions_pb2.CommonAction())


def duplicate_first(listing: Listing) -> None:
    listing.actions.add().CopyFrom(listing.actions[0])


def no_kind(listing: Listing) -> None:
    _action(listing, "export_users").ClearField("kind")


def select_without_options(listing: Listing) -> None:
    del _action(listing, "ship_order").params[0].options[:]


def bad_server_name(listing: Listing) -> None:
    listing.server_name = "the shop!"


def drop_last_action(listing: Listing) -> None:
    del listing.actions[-1]


def numbers_are_unknown(request: Request, response: Response) -> None:
    numbers = [i for i in _ids(request) if not isinstance(i, str)]
    if numbers:
        _errors(response, f"Unknown user id: {numbers[0]}")


def strings_are_unknown(request: Request, response: Response) -> None:
    strings = [i for i in _ids(request) if isinstance(i, str)]
    if strings and request.action != "ship_order":
        _errors(response, f"Unknown user id: {strings[0]}")


def singular(request: Request, response: Response) -> None:
    if response.result.message == "Mailed 1 users":
        response.result.message = "Mailed 1 user"


def ignore_inverse(request: Request) -> None:
    request.inverse_ids = False


def skip_unknown_ids(request: Request) -> None:
    known = [v for v in request.ids if str(from_value(v)) in {str(u.id) for u in spec.USERS}]
    del request.ids[:]
    request.ids.extend(known)


def default_subject(request: Request) -> None:
    if request.action == "mail_users" and "subject" not in request.inputs.fields:
        request.inputs.fields["subject"].string_value = "(no subject)"


def refuse_decimal_strings(request: Request, response: Response) -> None:
    amount = request.inputs.fields.get("amount")
    if amount is not None and amount.HasField("string_value"):
        response.Clear()
        response.errors.fields["amount"].messages.append("Enter a number.")


def reword_amount_error(request: Request, response: Response) -> None:
    if "amount" in response.errors.fields:
        response.errors.fields["amount"].messages[:] = ["must be greater than zero"]


def garbage_amount_is_one(request: Request) -> None:
    amount = from_struct(request.inputs).get("amount")
    try:
        float(amount)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        request.inputs.fields["amount"].string_value = "1"


def crlf(request: Request, response: Response) -> None:
    response.file.content = response.file.content.replace(b"\n", b"\r\n")


def plain_text(request: Request, response: Response) -> None:
    response.file.content_type = "text/plain"


def values_not_names(request: Request, response: Response) -> None:
    if request.action == "ship_order" and response.HasField("result"):
        inputs = from_struct(request.inputs)
        order = from_value(request.ids[0])
        response.result.message = (
            f"Order {order} ships with {inputs['carrier']} to {inputs['city']}"
        )


def any_carrier_is_dhl(request: Request) -> None:
    carrier = request.inputs.fields.get("carrier")
    if carrier is not None and carrier.string_value not in {"dhl", "ups"}:
        carrier.string_value = "dhl"


def chatty_refresh(request: Request, response: Response) -> None:
    if request.action == "refresh_stats":
        response.result.message = "Refreshed"


def html_as_message(request: Request, response: Response) -> None:
    if response.result.HasField("html"):
        response.result.message = response.result.html
        response.result.ClearField("html")


def at_most_two_ids(request: Request) -> None:
    del request.ids[2:]


def recolour_rome(country: str, options: Options) -> None:
    if country == "italy":
        options.options[0].color = "orange"


def reverse_uk(country: str, options: Options) -> None:
    if country == "uk":
        reordered = list(reversed(options.options))
        del options.options[:]
        options.options.extend(reordered)


def italy_by_default(country: str, options: Options) -> None:
    if country not in spec.CITIES:
        for option in spec.CITIES["italy"]:
            item = options.options.add(name=option.name, color=option.color)
            fill_value(item.value, option.value)


def refuse_long_deadlines(remaining: float | None) -> grpc.StatusCode | None:
    return grpc.StatusCode.INVALID_ARGUMENT if remaining and remaining > 5 else None


def refuse_short_deadlines(remaining: float | None) -> grpc.StatusCode | None:
    return grpc.StatusCode.RESOURCE_EXHAUSTED if remaining is not None and remaining < 1 else None


SHOP_DEFECTS: dict[str, Defect] = {
    "grpc.health": Defect(not_serving=True),
    "grpc.list.names": Defect(listing=swap_export_and_ship),
    "grpc.list.kinds": Defect(listing=bulk_adjust_wallet),
    "grpc.list.labels": Defect(listing=relabel_ship_order),
    "grpc.list.params": Defect(listing=no_default_for_urgent),
    "grpc.list.field_options": Defect(listing=extra_field_options),
    "grpc.list.field_options_refs": Defect(listing=country_from_server),
    "grpc.execute.number_ids": Defect(response=numbers_are_unknown),
    "grpc.execute.string_ids": Defect(response=strings_are_unknown),
    "grpc.execute.single_id": Defect(response=singular),
    "grpc.execute.inverse_ids": Defect(request=ignore_inverse),
    "grpc.execute.unknown_id": Defect(request=skip_unknown_ids),
    "grpc.execute.missing_required": Defect(request=default_subject),
    "grpc.execute.decimal_string": Defect(response=refuse_decimal_strings),
    "grpc.execute.not_positive": Defect(response=reword_amount_error),
    "grpc.execute.not_a_number": Defect(request=garbage_amount_is_one),
    "grpc.execute.file": Defect(response=crlf),
    "grpc.execute.select_options": Defect(response=values_not_names),
    "grpc.execute.invalid_choice": Defect(request=any_carrier_is_dhl),
    "grpc.execute.common": Defect(response=chatty_refresh),
    "grpc.execute.unknown_action": Defect(not_found_as=grpc.StatusCode.INVALID_ARGUMENT),
    "grpc.field_options.italy": Defect(options=recolour_rome),
    "grpc.field_options.uk": Defect(options=reverse_uk),
    "grpc.field_options.other": Defect(options=italy_by_default),
    # grpc.deadline.passed: a gRPC server built on grpcio cannot ignore deadlines, so the
    # server that does lives in test_a_server_that_ignores_deadlines_fails below.
    "grpc.deadline.ample": Defect(refuse=refuse_long_deadlines),
    "grpc.deadline.tiny": Defect(refuse=refuse_short_deadlines),
    "grpc.deadline.still_serving": Defect(wedge_after_short_deadline=True),
    "bridge.discovery": Defect(list_fails=True),
    "bridge.action_list.names": Defect(listing=extra_action),
    "bridge.action_list.shape": Defect(listing=relabel_ship_order),
    "bridge.execute.ids_array": Defect(request=at_most_two_ids),
    "bridge.execute.single_id": Defect(response=singular),
    "bridge.execute.comma_ids": Defect(response=strings_are_unknown),
    "bridge.execute.string_ids": Defect(response=strings_are_unknown),
    "bridge.execute.inverse_ids": Defect(request=ignore_inverse),
    "bridge.execute.html": Defect(response=html_as_message),
    "bridge.execute.file": Defect(response=plain_text),
    "bridge.execute.select_options": Defect(response=values_not_names),
    "bridge.execute.common": Defect(response=chatty_refresh),
    "bridge.status.field_error": Defect(response=reword_amount_error),
    "bridge.status.missing_required": Defect(request=default_subject),
    "bridge.status.non_field_error": Defect(request=skip_unknown_ids),
    "bridge.status.not_found": Defect(not_found_as=grpc.StatusCode.INVALID_ARGUMENT),
    "bridge.field_options.italy": Defect(options=recolour_rome),
    "bridge.field_options.uk": Defect(options=reverse_uk),
    "bridge.field_options.other": Defect(options=italy_by_default),
}
GENERIC_DEFECTS: dict[str, Defect] = {
    "grpc.health": Defect(not_serving=True),
    "grpc.reflection": Defect(reflection=None),
    "grpc.list.names": Defect(listing=duplicate_first),
    "grpc.list.kinds": Defect(listing=no_kind),
    "grpc.list.params": Defect(listing=select_without_options),
    "grpc.list.field_options": Defect(listing=country_from_server),
    "grpc.list.server_name": Defect(listing=bad_server_name),
    "grpc.execute.well_typed": Defect(crash_on="refresh_stats"),
    "grpc.execute.ill_typed": Defect(request=garbage_amount_is_one),
    "grpc.execute.missing_required": Defect(request=default_subject),
    "grpc.execute.unknown_action": Defect(not_found_as=grpc.StatusCode.INVALID_ARGUMENT),
    "grpc.field_options": Defect(options_fail=True),
    # grpc.deadline.passed: see test_a_server_that_ignores_deadlines_fails.
    "grpc.deadline.ample": Defect(refuse=refuse_long_deadlines),
    "grpc.secret": Defect(claimed_secret="a-secret-the-relay-ignores"),
    "bridge.discovery": Defect(list_fails=True),
    "bridge.action_list": Defect(listing=drop_last_action, listing_from_call=2),
    "bridge.execute.well_typed": Defect(crash_on="refresh_stats"),
    "bridge.execute.ill_typed": Defect(request=garbage_amount_is_one),
    "bridge.execute.missing_required": Defect(request=default_subject),
    "bridge.field_options": Defect(options_fail=True),
    "bridge.status.not_found": Defect(not_found_as=grpc.StatusCode.INVALID_ARGUMENT),
}
DEFECTS: dict[Suite, dict[str, Defect]] = {"shop": SHOP_DEFECTS, "generic": GENERIC_DEFECTS}
PROVED_ELSEWHERE = {"grpc.deadline.passed"}
"""Checks whose failing case is a test of its own (a relay on grpcio cannot show it)."""
RUN_FIRST = {("shop", "grpc.deadline.still_serving"): "grpc.deadline.tiny"}
"""A check whose defect shows only after another check ran."""


class DefectiveRelay(actions_pb2_grpc.ActionServiceServicer):
    """Forwards to a conformant server, breaking what its defect says."""

    def __init__(self, stub: actions_pb2_grpc.ActionServiceStub, defect: Defect) -> None:
        self.stub = stub
        self.defect = defect
        self.wedged = False
        self.listings = 0

    async def ListActions(self, request: actions_pb2.ListActionsRequest, context: Any) -> Listing:
        if self.defect.list_fails:
            await context.abort(grpc.StatusCode.INTERNAL, "listing is broken")
        listing = await self.stub.ListActions(request, timeout=5)
        self.listings += 1
        if self.defect.listing and self.listings >= self.defect.listing_from_call:
            self.defect.listing(listing)
        return listing

    async def ExecuteAction(self, request: Request, context: Any) -> Response:
        remaining = context.time_remaining()
        if self.wedged:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "stuck since a call timed out")
        if self.defect.wedge_after_short_deadline and remaining is not None and remaining < 1:
            self.wedged = True
        refusal = self.defect.refuse(remaining) if self.defect.refuse else None
        if refusal is not None:
            await context.abort(refusal, f"refused with {remaining} s left")
        if request.action == self.defect.crash_on:
            await context.abort(grpc.StatusCode.INTERNAL, "Exception calling application")
        if self.defect.request:
            self.defect.request(request)
        try:
            response = await self.stub.ExecuteAction(request, timeout=5)
        except grpc.aio.AioRpcError as error:
            code = error.code()
            if code == grpc.StatusCode.NOT_FOUND and self.defect.not_found_as:
                code = self.defect.not_found_as
            await context.abort(code, error.details() or "")
        if self.defect.response:
            self.defect.response(request, response)
        return response

    async def GetFieldOptions(
        self, request: actions_pb2.GetFieldOptionsRequest, context: Any
    ) -> Options:
        if self.defect.options_fail:
            await context.abort(grpc.StatusCode.INTERNAL, "options are broken")
        response = await self.stub.GetFieldOptions(request, timeout=5)
        if self.defect.options:
            self.defect.options(str(from_struct(request.form).get("country")), response)
        return response


_REFLECTION_V1 = "grpc.reflection.v1.ServerReflection"


def _serve_reflection_v1(server: grpc.aio.Server, services: list[str]) -> None:
    """Reflection v1's list_services only: grpcio-reflection ships v1alpha alone, and the
    messages are the same on the wire."""

    async def info(requests: Any, context: Any) -> Any:
        async for _ in requests:
            listed = reflection_pb2.ListServiceResponse(
                service=[reflection_pb2.ServiceResponse(name=name) for name in services]
            )
            yield reflection_pb2.ServerReflectionResponse(list_services_response=listed)

    handler = grpc.stream_stream_rpc_method_handler(
        info,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(_REFLECTION_V1, {"ServerReflectionInfo": handler}),)
    )


@contextlib.asynccontextmanager
async def defective_relay(address: str, defect: Defect) -> AsyncIterator[str]:
    """A relay with `defect` in front of `address`; yields its address."""
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    async with grpc.aio.insecure_channel(address) as channel:
        relay = DefectiveRelay(actions_pb2_grpc.ActionServiceStub(channel), defect)
        actions_pb2_grpc.add_ActionServiceServicer_to_server(relay, server)
        health_servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        status = "NOT_SERVING" if defect.not_serving else "SERVING"
        await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        await health_servicer.set(
            SERVICE_NAME, health_pb2.HealthCheckResponse.ServingStatus.Value(status)
        )
        services = [SERVICE_NAME, "grpc.health.v1.Health"]
        if defect.reflection == "v1alpha":
            reflection.enable_server_reflection([*services, reflection.SERVICE_NAME], server)
        elif defect.reflection == "v1":
            _serve_reflection_v1(server, [*services, _REFLECTION_V1])
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            yield f"127.0.0.1:{port}"
        finally:
            await server.stop(None)


@pytest.mark.parametrize("suite", ["generic", "shop"])
async def test_the_relay_without_a_defect_passes(suite: Suite, shop: ActionServerProcess) -> None:
    async with defective_relay(shop.address, Defect()) as address:
        report = await jetconformance.run(address, suite=suite)
    assert report.ok, report.text()


async def test_reflection_v1_is_preferred(shop: ActionServerProcess) -> None:
    async with defective_relay(shop.address, Defect(reflection="v1")) as address:
        report = await jetconformance.run(address, bridge_checks=False)
    result = next(r for r in report.results if r.id == "grpc.reflection")
    assert result.passed, report.text()
    assert result.note == "grpc.reflection.v1"


def test_every_check_has_its_defect() -> None:
    for suite, defects in DEFECTS.items():
        registered = {c.id for c in checks(suite)}
        assert set(defects) | PROVED_ELSEWHERE == registered, f"{suite}: a check has no defect"


FAILING_CASES = [(suite, check_id) for suite, defects in DEFECTS.items() for check_id in defects]


@pytest.mark.parametrize(("suite", "check_id"), FAILING_CASES)
async def test_a_check_fails_on_a_server_with_its_defect(
    suite: Suite, check_id: str, shop: ActionServerProcess
) -> None:
    defect = DEFECTS[suite][check_id]
    check = find(suite, check_id)
    async with (
        defective_relay(shop.address, defect) as address,
        open_channel(address, defect.claimed_secret) as channel,
    ):
        target = Target(
            address,
            channel,
            actions_pb2_grpc.ActionServiceStub(channel),
            secret=defect.claimed_secret,
        )
        if (suite, check_id) in RUN_FIRST:
            await run_check(find(suite, RUN_FIRST[suite, check_id]), target)
        if check.layer == "bridge":
            # A bridge of its own, so that it discovers the defective listing.
            async with start_bridge(address) as client:
                target.bridge_client = client
                result = await run_check(check, target)
        else:
            result = await run_check(check, target)
    assert not result.passed, f"{suite} {check_id} passed despite its defect: {result}"
    assert not result.skipped, result


# A server that ignores deadlines ------------------------------------------------------------
#
# grpcio, grpc-go and Connect all end a call whose deadline passed; a server that does not must
# be written by hand. This one speaks just enough HTTP/2 to answer every call with a result as
# soon as the request is complete, whatever its grpc-timeout said.

_DATA, _HEADERS, _SETTINGS, _PING = 0x0, 0x1, 0x4, 0x6
_END_STREAM, _ACK, _END_HEADERS = 0x1, 0x1, 0x4


def _frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    return (
        len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big") + payload
    )


def _literal(name: bytes, value: bytes) -> bytes:
    # HPACK "literal header field without indexing, new name", no Huffman coding.
    return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value


async def _deadline_ignoring_connection(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    body = Response(result=actions_pb2.Result(message="ran anyway")).SerializeToString()
    try:
        await reader.readexactly(24)  # the client's connection preface
        writer.write(_frame(_SETTINGS, 0, 0, b""))
        while True:
            header = await reader.readexactly(9)
            kind, flags = header[3], header[4]
            stream = int.from_bytes(header[5:9], "big") & 0x7FFFFFFF
            payload = await reader.readexactly(int.from_bytes(header[:3], "big"))
            if kind in {_SETTINGS, _PING} and not flags & _ACK:
                writer.write(_frame(kind, _ACK, 0, payload if kind == _PING else b""))
            elif kind in {_DATA, _HEADERS} and flags & _END_STREAM:
                # 0x88 is HPACK's static entry ":status: 200".
                headers = b"\x88" + _literal(b"content-type", b"application/grpc")
                message = b"\x00" + len(body).to_bytes(4, "big") + body
                writer.write(_frame(_HEADERS, _END_HEADERS, stream, headers))
                writer.write(_frame(_DATA, 0, stream, message))
                trailers = _literal(b"grpc-status", b"0")
                writer.write(_frame(_HEADERS, _END_HEADERS | _END_STREAM, stream, trailers))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


@pytest.mark.parametrize("suite", ["generic", "shop"])
async def test_a_server_that_ignores_deadlines_fails(suite: Suite) -> None:
    # Its ListActions answer is the same bytes, read as a listing of one unnamed action: the
    # generic suite calls that one.
    server = await asyncio.start_server(_deadline_ignoring_connection, "127.0.0.1", 0)
    address = f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        async with open_channel(address) as channel:
            target = Target(address, channel, actions_pb2_grpc.ActionServiceStub(channel))
            ample = await run_check(find(suite, "grpc.deadline.ample"), target)
            passed = await run_check(find(suite, "grpc.deadline.passed"), target)
    finally:
        server.close()
        await server.wait_closed()
    assert ample.passed, ample  # it does answer: the next failure is about the deadline
    assert not passed.passed
    assert passed.got == "OK: result(value unset, message='ran anyway')"


# The documentation ----------------------------------------------------------------------------


def _documented_checks(section: str) -> list[str]:
    """The check ids of the first column of the tables in one section of the package README."""
    text = (ROOT / "conformance" / "README.md").read_text()
    body = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    ids: list[str] = []
    for line in body.splitlines():
        if not line.startswith("| `"):
            continue
        parent = ""
        for name in re.findall(r"`([^`]+)`", line.split(" | ")[0]):
            # "`grpc.field_options.italy`, `.uk`" names grpc.field_options.uk too.
            full = parent + name if name.startswith(".") else name
            parent = full.rsplit(".", 1)[0]
            ids.append(full)
    return ids


@pytest.mark.parametrize(
    ("suite", "section"),
    [("generic", "The generic checks"), ("shop", "The shop checks (`--spec shop`)")],
)
def test_the_readme_lists_every_check(suite: Suite, section: str) -> None:
    assert sorted(_documented_checks(section)) == sorted(c.id for c in checks(suite))


def test_the_bridge_declares_the_conformance_extra() -> None:
    import tomllib

    bridge = tomllib.loads((ROOT / "bridge" / "pyproject.toml").read_text())
    assert bridge["project"]["optional-dependencies"]["conformance"] == ["jetconformance>=0.2.0"]
