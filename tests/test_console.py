"""The console (/console/) in a real browser, against the three-language demo.

`scripts/demo-polyglot --console` runs the Python, Go and Node shops behind one bridge; a second
bridge (Bearer authentication on) serves tests/servers/console_kitchen.py twice, for every field
type, hostile html and a conflict. tests/browser/console.mjs drives Debian's Chromium through
playwright-core over both, as a person would, and reports what it saw; the tests below assert on
that report. axe-core checks accessibility in five states. The page structure (roles and
names) at the README screenshot's state must match docs/console.aria.yml, which
`scripts/screenshot-console` regenerates together with docs/console.png.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jetconformance.shop import spec
from tests.support import (
    DEMO,
    GO_SHOP,
    LOGS,
    NODE_SHOP,
    READY,
    ROOT,
    Demo,
    free_port,
    missing_browser_tools,
    require_built,
    wait_ready,
    wait_until,
)

DRIVER = ROOT / "tests" / "browser" / "console.mjs"
ARIA = ROOT / "docs" / "console.aria.yml"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
KEY = "console-test-key-0123456789abcdef"
KITCHEN = "inprocess:tests.servers.console_kitchen:build_app"
LANGUAGES = ("python", "go_", "node_")


@pytest.fixture(scope="module")
def tools() -> None:
    missing = missing_browser_tools() + ([] if AXE.exists() else ["axe-core (npm ci)"])
    if not missing:
        return
    reason = "console test needs " + ", ".join(missing) + "; scripts/bootstrap installs them"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def console_demo() -> Iterator[Demo]:
    """`scripts/demo-polyglot --console` on a free port, as the README tells users to run it."""
    require_built(GO_SHOP)
    require_built(NODE_SHOP)
    port = free_port()
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"demo-console-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(DEMO), "--console"],
            env={**os.environ, "DEMO_SKIP_BUILD": "1", "BRIDGE_PORT": str(port)},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    running = Demo(process, port, log)
    try:
        wait_until(
            lambda: READY in running.output(),
            "the console demo's ready line",
            30,
            process,
            running.output,
        )
        assert f"console: http://127.0.0.1:{port}/console/" in running.output()
        yield running
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)  # the group this fixture created
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def kitchen() -> Iterator[str]:
    """A bridge with the console and Bearer authentication, serving the kitchen server twice."""
    port = free_port()
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"console-kitchen-{port}.log"
    command = [sys.executable, "-m", "jetbridge", "serve", "--console", "--address", "127.0.0.1"]
    command += ["--port", str(port), "--bearer-auth-key", KEY]
    command += ["--service", f"kitchen={KITCHEN}", "--service", f"kitchen2={KITCHEN}"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process, log.read_text)
        yield url
    finally:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def seen(
    tools: None, console_demo: Demo, kitchen: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """What the browser saw, driving both consoles once."""
    tmp_path = tmp_path_factory.mktemp("console")
    config = {
        "demo": f"http://127.0.0.1:{console_demo.port}",
        "kitchen": kitchen,
        "key": KEY,
        "downloads": str(tmp_path),
        "screenshot": str(tmp_path / "console.png"),
        "aria": None,
    }
    done = subprocess.run(
        ["node", str(DRIVER), json.dumps(config)],
        cwd=ROOT,
        capture_output=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    observed: dict[str, Any] = json.loads(done.stdout)
    (LOGS / "console-seen.json").write_bytes(done.stdout)  # for reading a failure
    return observed


def test_console_runs_every_example_action_of_three_languages(seen: dict[str, Any]) -> None:
    # Lists: 15 actions, grouped by collection, common actions last, each with its service.
    assert seen["demo_list"] == "15 action(s)"
    assert seen["groups"][-1] == "Common actions"
    assert "Collection users" in seen["groups"]
    assert "Collection go_orders" in seen["groups"]
    services = {b["name"]: b["text"].rsplit("· ", 1)[1] for b in seen["buttons"]}
    assert services["mail_users"] == "python"
    assert services["go_mail_users"] == "go"
    assert services["node_refresh_stats"] == "node"
    assert seen["details"].split("\n") == [
        "Name",
        "mail_users",
        "Service",
        "python",
        "Icon",
        "email",
        "Collection",
        "users",
        "Runs on",
        "selected records, in one call (bulk)",
    ]
    assert "mail_users · icon email · python" in [
        b["text"].removeprefix("Mail users") for b in seen["buttons"]
    ]
    expected_csv = spec.export_csv()
    for language in LANGUAGES:
        shop = seen["shops"][language]
        prefix = "" if language == "python" else language
        # Record selection exactly as Jet sends it.
        assert shop["mail_several"]["request"] == {
            "name": "execute_action",
            "params": {
                "model": f"{prefix}users",
                "name": f"{prefix}mail_users",
                "ids": [1, 2],
                "inverseIds": False,
                # Empty inputs stay out, as from a blank form field.
                "params": {"subject": "Hello", "urgent": True},
            },
        }
        assert shop["mail_several"]["message"] == "Mailed 2 users"
        assert shop["mail_except"]["request"]["params"]["ids"] == [1]
        assert shop["mail_except"]["request"]["params"]["inverseIds"] is True
        assert shop["mail_except"]["message"] == "Mailed 4 users"
        assert shop["mail_one"]["request"]["params"]["id"] == 3
        assert shop["mail_one"]["message"] == "Mailed 1 users"
        # A non-field error above the form, none beside the inputs.
        assert shop["mail_unknown"]["formErrors"] == ["Unknown user id: 99"]
        assert shop["mail_unknown"]["subject"]["errors"] == []
        # A field error next to its input, described by it, focused.
        refused = shop["wallet_refused"]
        assert refused["status"] == "HTTP 400: the action refused its inputs"
        assert refused["amount"] == {
            "errors": ["must be positive"],
            "invalid": "true",
            "describedBy": True,
        }
        assert refused["focused"] == "amount"
        assert refused["formErrors"] == []
        # Then html, in a sandboxed frame; the error is gone.
        wallet = shop["wallet"]
        assert wallet["request"]["params"]["params"] == {"amount": "5.00"}
        assert wallet["html"].endswith("Wallet of <strong>Ada</strong> was updated")
        assert wallet["sandbox"] == ""
        assert wallet["frameText"] == "Wallet of Ada was updated"
        assert wallet["amount"]["errors"] == []
        assert wallet["amount"]["invalid"] is None
        # A file download, saved to disk and compared.
        export = shop["export"]
        assert export["request"]["params"] == {
            "model": f"{prefix}users",
            "name": f"{prefix}export_users",
            "params": {},
        }
        assert export["download"].startswith("Save users.csv (text/csv")
        assert export["suggested"] == "users.csv"
        assert Path(export["saved"]).read_bytes() == expected_csv
        # The dynamic select follows the country it depends on.
        assert shop["cities_uk"] == ["London", "Leeds"]
        assert shop["ship"]["message"] == "Order 42 ships with DHL to Leeds"
        assert shop["ship"]["request"]["params"]["params"] == {
            "carrier": "dhl",
            "country": "uk",
            "city": "leeds",
        }
        assert shop["cities_italy"] == ["Rome", "Milan"]
        assert shop["city_after_change"] == ""  # leeds is no city of Italy
        # Back to the UK, Rome is no option any more: the city is empty again, and required.
        assert shop["ship_city_dropped"]["request"]["params"]["params"] == {
            "carrier": "dhl",
            "country": "uk",
        }
        assert shop["ship_city_dropped"]["city"]["errors"] == ["This field is required."]
        assert shop["refresh"]["status"] == "HTTP 200: succeeded"
        assert shop["refresh"]["request"] == {
            "name": "execute_action",
            "params": {"name": f"{prefix}refresh_stats", "params": {}},
        }
        assert shop["refresh"]["elapsed"].endswith(" ms")
        # The X-Request-ID header's value, when the bridge sends one.
        request_id = shop["refresh"]["requestId"]
        assert request_id == "none (no X-Request-ID header)" or " " not in request_id
        assert '/api/messages/ -d \'{"name":"execute_action"' in shop["refresh"]["curl"]
    # The only errors in the browser's console: answers the tests asked for (401, 400), and the
    # hostile html being blocked.
    expected = ("status of 400", "status of 401", "sandboxed", "Content Security Policy")
    errors = [line for line in seen["console"] if line.startswith(("error", "pageerror"))]
    assert [line for line in errors if not any(part in line for part in expected)] == []


def test_console_renders_every_field_type_and_sends_jets_values(seen: dict[str, Any]) -> None:
    fields = {f["name"]: f for f in seen["fields"]}
    kinds = {name: (f["tag"], f["type"]) for name, f in fields.items()}
    assert kinds == {
        "title": ("input", "text"),
        "notes": ("textarea", "textarea"),
        "count": ("input", "number"),
        "ratio": ("input", "number"),
        "price": ("input", "text"),
        "active": ("input", "checkbox"),
        "day": ("input", "date"),
        "at": ("input", "time"),
        "when": ("input", "datetime-local"),
        "data": ("textarea", "textarea"),
        "size": ("select", "select-one"),
        "owner": ("input", "text"),
    }
    # Required markers and defaults.
    assert fields["title"]["required"]
    assert fields["title"]["star"]
    assert fields["title"]["label"] == "Title"
    assert not fields["notes"]["required"]
    assert not fields["notes"]["star"]
    assert fields["notes"]["value"] == "first line"
    assert fields["count"]["value"] == "3"
    assert fields["active"]["value"] is True
    assert json.loads(fields["data"]["value"]) == {"a": 1}
    assert fields["owner"]["note"] == "ForeignKey → users id"
    assert seen["description"] == "Echoes its inputs as JSON"
    # A server field error next to the empty required input.
    assert seen["title_error"]["errors"] == ["This field is required."]
    assert seen["title_error"]["invalid"] == "true"
    # Bad JSON is refused next to its input, and nothing is sent.
    assert seen["data_error"]["errors"][0].startswith("not valid JSON")
    assert seen["sent_with_bad_json"] == 0
    sent = seen["every_field"]["request"]["params"]
    assert sent == {
        "name": "every_field",
        "params": {
            "title": "Hi",
            "notes": "two\nlines",
            "count": 7,
            "ratio": 0.5,
            "price": "12.30",
            "active": False,
            "day": "2026-12-01",
            "at": "13:45:10",
            "when": "2026-12-01T13:45:10",
            "data": {"b": [1, 2]},
            "size": 2,
            "owner": 17,
        },
    }
    assert json.loads(seen["every_field"]["message"]) == sent["params"]
    assert '-H "Authorization: $JETBRIDGE_AUTHORIZATION"' in seen["every_field"]["curl"]


def test_console_shows_conflicts_and_keeps_the_key_out_of_urls_and_logs(
    seen: dict[str, Any],
) -> None:
    assert seen["kitchen_unauthorised"].startswith("get_action_list failed: HTTP 401")
    assert seen["kitchen_list"] == "2 action(s)"
    assert seen["stored"] == {"jetbridge.console.authorization": f"Bearer {KEY}"}
    assert seen["local"] == 0
    assert seen["forgotten"] == {}
    unauthorised = seen["unauthorised_run"]
    assert unauthorised["status"] == "HTTP 401: Authentication credentials were not provided"
    assert json.loads(unauthorised["response"])["detail"] == (
        "Authentication credentials were not provided"
    )
    assert "Authorization" not in unauthorised["curl"]  # no credential, no header
    assert seen["badges"] == ["conflict", "conflict"]
    assert seen["conflicts"] == [
        "action 'every_field' is declared by services 'kitchen' and 'kitchen2': "
        "'kitchen' serves it (configured first)"
    ]
    everything = json.dumps([seen["console"], seen["requests"], seen["urls"]])
    assert KEY not in everything
    # Nothing but the two bridges was asked for anything.
    hosts = {url.split("/")[2] for url in seen["requests"] if url.startswith("http")}
    assert all(host.startswith("127.0.0.1:") for host in hosts)
    assert {url.split(":")[0] for url in seen["requests"]} <= {"http", "blob", "about"}


def test_html_results_cannot_run_script(seen: dict[str, Any]) -> None:
    hostile = seen["hostile"]
    assert seen["tabs_to_run"] < 20  # reached Run by keyboard alone
    assert hostile["sandbox"] == ""
    assert hostile["frameText"].startswith("Hostile html")
    assert seen["parent_pwned"] is None
    assert seen["frame_pwned"] is None  # read inside the frame itself
    assert any("Blocked script execution" in line for line in seen["console"])


def test_console_is_accessible_and_fits_wide_and_narrow_windows(seen: dict[str, Any]) -> None:
    assert len(seen["axe_runs"]) == 5
    serious = [v for v in seen["axe"] if v["impact"] in ("serious", "critical")]
    assert serious == []
    assert seen["wide"]
    assert seen["narrow"]


def test_page_structure_matches_the_committed_screenshot(seen: dict[str, Any]) -> None:
    """docs/console.png shows this state; when the structure changes, regenerate both with
    scripts/screenshot-console."""
    assert seen["structure"] + "\n" == ARIA.read_text()


def test_screenshot_command_writes_the_committed_structure(tools: None, tmp_path: Path) -> None:
    require_built(GO_SHOP)
    require_built(NODE_SHOP)
    done = subprocess.run(
        [str(ROOT / "scripts" / "screenshot-console"), str(tmp_path)],
        env={**os.environ, "DEMO_SKIP_BUILD": "1"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "console.png").read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "console.aria.yml").read_text() == ARIA.read_text()
