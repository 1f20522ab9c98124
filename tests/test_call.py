"""`jetbridge call` and `jetbridge options`, run as real processes.

Against a real bridge process (authentication on: Bearer from JETBRIDGE_AUTHORIZATION) in
front of the real Python shop, and through the in-process bridge that `--service` builds, both to
the shop's port and to an `inprocess:` target. Exit codes: 0 success, 1 field errors, 2 usage or
configuration, 3 other failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from jetconformance.shop import spec
from tests.support import ROOT, ActionServerProcess, bridge_process, free_port, wait_ready

KEY = "call-test-key-0123456789abcdef"
AUTHORIZATION = f"Bearer {KEY}"


@pytest.fixture(scope="module")
def bridge(shop: ActionServerProcess) -> Iterator[str]:
    """`jetbridge serve` with a Bearer key in front of the shop; its base URL."""
    args = ["--bearer-auth-key", KEY, "--service", f"py={shop.address}"]
    with bridge_process(*args, name="call-bridge") as served:
        wait_ready(served.url, served.process, served.output)
        yield served.url


def jetbridge(*args: str, cwd: Path = ROOT, auth: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "JETBRIDGE_AUTHORIZATION"}
    if auth:
        env["JETBRIDGE_AUTHORIZATION"] = AUTHORIZATION
    done = subprocess.run(
        [sys.executable, "-m", "jetbridge", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert KEY not in done.stdout + done.stderr  # the credential is never printed
    return done


def test_call_runs_actions_through_a_running_bridge(bridge: str) -> None:
    done = jetbridge(
        "call", "mail_users", "--url", bridge, "--ids", "1,2",
        "--input", "subject=Hi", "--input", "urgent:=true",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == "ok\nmessage: Mailed 2 users\n"
    assert done.stderr.startswith("(HTTP 200, ")
    # --model given, every record but one (inverseIds), the raw answer.
    done = jetbridge(
        "call", "mail_users", "--url", bridge + "/api/messages/", "--model", "users",
        "--all-except", "1", "--input", "subject=Hi", "--json",
    )  # fmt: skip
    assert done.returncode == 0
    assert json.loads(done.stdout) == {"result": True, "message": "Mailed 4 users"}
    done = jetbridge("call", "adjust_wallet", "--url", bridge, "--id", "1", "--input", "amount=5")
    assert done.stdout == "ok\nhtml: Wallet of <strong>Ada</strong> was updated\n"
    done = jetbridge("call", "refresh_stats", "--url", bridge)
    assert (done.returncode, done.stdout) == (0, "ok\n")


def test_call_reports_field_errors_with_exit_code_1(bridge: str) -> None:
    done = jetbridge("call", "adjust_wallet", "--url", bridge, "--id", "1", "--input", "amount=-5")
    assert done.returncode == 1
    assert done.stdout == "the action refused its inputs:\n  amount: must be positive\n"
    done = jetbridge("call", "mail_users", "--url", bridge, "--ids", "99", "--input", "subject=x")
    assert done.returncode == 1
    assert "  (form): Unknown user id: 99\n" in done.stdout
    done = jetbridge(
        "call", "adjust_wallet", "--url", bridge, "--id", "1", "--input", "amount=0", "--json"
    )
    assert done.returncode == 1
    assert json.loads(done.stdout)["errors"] == {"amount": ["must be positive"]}


def test_call_saves_a_file_result(bridge: str, tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    done = jetbridge("call", "export_users", "--url", bridge, "--output", str(target))
    assert done.returncode == 0, done.stderr
    assert target.read_bytes() == spec.export_csv()
    assert done.stdout.startswith(f"saved {target} (text/csv, ")
    # Without --output: the server's name, in the current directory, never overwritten.
    done = jetbridge("call", "export_users", "--url", bridge, "--json", cwd=tmp_path)
    assert json.loads(done.stdout)["file"] == "users.csv"
    assert (tmp_path / "users.csv").read_bytes() == spec.export_csv()
    done = jetbridge("call", "export_users", "--url", bridge, cwd=tmp_path)
    assert done.returncode == 3
    assert "cannot save users.csv" in done.stderr
    done = jetbridge("call", "export_users", "--url", bridge, "--output", "-")
    assert done.stdout.encode() == spec.export_csv()


def test_options_prints_a_selects_options(bridge: str) -> None:
    done = jetbridge("options", "orders", "city", "--url", bridge, "--form", "country=italy")
    assert done.returncode == 0, done.stderr
    assert done.stdout == '"rome"\tRome  (red)\n"milan"\tMilan  (green)\n'
    done = jetbridge("options", "orders", "city", "--url", bridge, "--form", "country=uk", "--json")
    assert [o["value"] for o in json.loads(done.stdout)] == ["london", "leeds"]
    done = jetbridge("options", "orders", "nowhere", "--url", bridge)
    assert done.returncode == 3
    assert "HTTP 404" in done.stderr


def test_call_failures_and_usage_errors(bridge: str) -> None:
    done = jetbridge("call", "refresh_stats", "--url", bridge, auth=False)
    assert done.returncode == 3
    assert "failed: HTTP 401" in done.stderr
    done = jetbridge("call", "no_such_action", "--url", bridge)
    assert done.returncode == 3
    assert "Unknown action 'no_such_action'" in done.stderr
    done = jetbridge("call", "refresh_stats", "--url", f"http://127.0.0.1:{free_port()}")
    assert done.returncode == 3
    assert "no answer" in done.stderr
    usage = [
        ("call", "refresh_stats"),  # neither --url nor --service
        ("call", "refresh_stats", "--url", bridge, "--service", "127.0.0.1:1"),
        ("call", "mail_users", "--url", bridge, "--id", "1", "--ids", "1,2"),
        ("call", "mail_users", "--url", bridge, "--input", "subject"),
        ("call", "mail_users", "--url", bridge, "--input", "urgent:=yes"),
        ("call", "refresh_stats", "--url", "localhost:8888"),
        ("call", "refresh_stats", "--service", "not a target"),
    ]
    for args in usage:
        assert jetbridge(*args).returncode == 2, args


def test_call_and_options_through_an_in_process_bridge(shop: ActionServerProcess) -> None:
    done = jetbridge(
        "call", "ship_order", "--service", f"py={shop.address}", "--id", "42",
        "--input", "carrier=dhl", "--input", "country=uk", "--input", "city=leeds",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == "ok\nmessage: Order 42 ships with DHL to Leeds\n"
    done = jetbridge("options", "orders", "city", "--service", shop.address, "--form", "country=uk")
    assert done.stdout.splitlines()[0] == '"london"\tLondon  (blue)'
    # An in-process target: no action server process at all.
    inprocess = "inprocess:tests.servers.console_kitchen:build_app"
    done = jetbridge(
        "call", "every_field", "--service", inprocess, "--timeout", "20",
        "--input", "title=t", "--input", "count:=2", "--input", 'data:={"k": [true]}',
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    message = done.stdout.removeprefix("ok\nmessage: ").strip()
    assert json.loads(message) == {"title": "t", "count": 2, "data": {"k": [True]}}
    done = jetbridge("call", "every_field", "--service", inprocess)
    assert done.returncode == 1
    assert "  title: This field is required." in done.stdout
