"""The `jetbridge` command as operators run it: real processes, real exit codes."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.support import (
    BILLING,
    ActionServerProcess,
    BridgeProcess,
    bridge_process,
    free_port,
    until,
    until_ready,
)


def jetbridge(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jetbridge", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_check_passes_when_every_service_answers(shop: ActionServerProcess) -> None:
    result = jetbridge("check", "--service", f"shop={shop.address}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "shop" in result.stdout
    assert "mail_users" in result.stdout
    assert "(options orders.city)" in result.stdout
    assert result.stdout.rstrip().endswith("OK")


def test_check_fails_on_conflicts_and_down_services(shop: ActionServerProcess) -> None:
    twin = ActionServerProcess(BILLING, ("--duplicates",))
    twin.start()
    try:
        result = jetbridge(
            "check",
            "--service",
            f"shop={shop.address}",
            "--service",
            f"twin={twin.address}",
            "--service",
            f"gone=127.0.0.1:{free_port()}",
        )
    finally:
        twin.kill()
    assert result.returncode == 1
    assert (
        "PROBLEM: conflict: action 'mail_users' is declared by services 'shop' and 'twin'"
        in result.stdout
    )
    assert "PROBLEM: service 'gone' is down" in result.stdout
    assert "3 problem(s)" in result.stdout


def test_actions_prints_the_merged_table(shop: ActionServerProcess) -> None:
    result = jetbridge("actions", env={"JETBRIDGE_SERVICES": f"shop={shop.address}"})
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ACTION", "KIND", "MODELS", "SERVICE"]
    assert lines[1].split() == ["mail_users", "model", "users", "shop"]
    assert any(line.split() == ["refresh_stats", "common", "shop"] for line in lines)


def test_configuration_errors_exit_2_with_a_message() -> None:
    result = jetbridge("check", "--service", "no-port-here")
    assert result.returncode == 2
    assert "configuration error" in result.stderr
    assert "is not HOST:PORT" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture
def served(shop: ActionServerProcess, billing: ActionServerProcess) -> Iterator[BridgeProcess]:
    services = ["--service", f"shop={shop.address}", "--service", f"billing={billing.address}"]
    with bridge_process("--disable-auth", *services, name="cli-bridge") as bridge:
        yield bridge


async def test_serve_answers_and_drains_in_flight_requests_on_sigterm(
    served: BridgeProcess, billing: ActionServerProcess
) -> None:
    process, url = served.process, served.url
    await until_ready(url)
    messages = url + "/api/messages/"
    async with aiohttp.ClientSession() as session:
        async with session.post(messages, json={"name": "get_action_list"}) as response:
            assert response.status == 200
        # A call in flight when SIGTERM arrives still completes.
        slow = {"name": "execute_action", "params": {"name": "slow", "params": {"seconds": 1}}}
        started = billing.lines_with("slow: started")
        pending = asyncio.ensure_future(session.post(messages, json=slow))
        await asyncio.to_thread(billing.wait_for_lines, "slow: started", started + 1)
        process.send_signal(signal.SIGTERM)  # with the call in flight through the bridge
        response = await pending
        assert response.status == 200
        assert await response.json() == {"result": True, "message": "slept 1.0"}
        response.release()
    assert await asyncio.to_thread(process.wait, 15) == 0
    output = served.output()
    assert "authentication is DISABLED" in output
    assert not url.endswith(":0")  # --port 0 was given: the start line named the port bound
    assert "stopping: finishing in-flight requests" in output


@pytest.fixture
def two_workers(shop: ActionServerProcess) -> Iterator[BridgeProcess]:
    # Workers share one port, so they must be given it.
    args = ("--port", str(free_port()), "--workers", "2", "--service", f"shop={shop.address}")
    with bridge_process("--disable-auth", *args, name="cli-workers") as bridge:
        yield bridge


async def test_workers_share_the_port_and_stop_together(
    two_workers: BridgeProcess,
) -> None:
    process, url = two_workers.process, two_workers.url
    await until_ready(url)
    pids: set[int] = set()

    async def both_answered() -> bool:
        # A new connection each time, so the kernel may pick either worker.
        async with aiohttp.ClientSession() as session:
            async with session.get(url + "/healthz") as response:
                pids.add((await response.json())["pid"])
            async with session.post(
                url + "/api/messages/", json={"name": "get_action_list"}
            ) as response:
                assert response.status == 200
        return len(pids) == 2

    await until(both_answered, "answers from both workers")
    assert process.pid not in pids
    process.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(process.wait, 20) == 0
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_every_invalid_setting_is_reported_at_once_under_its_own_name() -> None:
    result = jetbridge(
        "serve",
        "--service",
        "x:1",
        "--port",
        "99999",
        "--call-timeout",
        "soon",
        env={"JETBRIDGE_WORKERS": "none", "DISABLE_AUTH": "true"},
    )
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert (
        "jetbridge: configuration error: --port '99999' must be between 0 (any free port) and 65535"
        in lines
    )
    assert any(line.startswith("jetbridge: configuration error: --call-timeout") for line in lines)
    assert "jetbridge: configuration error: JETBRIDGE_WORKERS 'none' must be a whole number" in (
        lines
    )
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_port_in_use_is_one_line_and_exit_2(workers: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = jetbridge(
            "serve",
            "--address",
            "127.0.0.1",
            "--port",
            str(port),
            "--disable-auth",
            "--service",
            "x:1",
            "--workers",
            workers,
        )
    assert result.returncode == 2, result.stderr
    assert f"jetbridge: cannot listen on 127.0.0.1:{port}: the address is already in use" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr
    if workers == "2":
        assert "cannot start (see above); stopping" in result.stderr


async def test_workers_exit_when_their_supervisor_is_killed(
    two_workers: BridgeProcess,
) -> None:
    process, url = two_workers.process, two_workers.url
    await until_ready(url)
    async with aiohttp.ClientSession() as session, session.get(url + "/healthz") as response:
        pid = (await response.json())["pid"]
    children = _children(process.pid)
    assert pid in children
    process.kill()
    process.wait()
    for child in children:
        # The kernel sends each worker SIGTERM (PR_SET_PDEATHSIG); it drains and exits.
        await until(functools.partial(_gone, child), f"exit of worker {child}", 10)


def _children(pid: int) -> set[int]:
    return {int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


def _gone(pid: int) -> bool:
    """Exited: no such process, or a zombie waiting for its new parent to reap it."""
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")
    return True


async def test_idle_sockets_beyond_the_fd_limit_do_not_lock_clients_out(
    shop: ActionServerProcess,
) -> None:
    # A hard limit of 200 open files: the bridge caps itself at 136 connections, and 300 idle
    # sockets (more than the process could ever hold) still leave room for a real client.
    port = free_port()
    process = _start_with_fd_limit(200, port, shop)
    url = f"http://127.0.0.1:{port}"
    idle: list[asyncio.StreamWriter] = []
    try:
        await until_ready(url)
        for _ in range(300):
            idle.append((await asyncio.open_connection("127.0.0.1", port))[1])
        async with aiohttp.ClientSession() as session:
            body = {"name": "execute_action", "params": {"name": "refresh_stats"}}
            async with session.post(url + "/api/messages/", json=body) as response:
                assert response.status == 200
                assert await response.json() == {"result": True}
    finally:
        for writer in idle:
            writer.close()
        process.send_signal(signal.SIGTERM)
        output = (await asyncio.to_thread(process.communicate, timeout=30))[0].decode()
    assert "up to 136 connections, 200 file descriptors" in output
    assert "connection limit reached" in output
    assert "Too many open files" not in output


def _start_with_fd_limit(
    limit: int, port: int, shop: ActionServerProcess
) -> subprocess.Popen[bytes]:
    command = [
        "prlimit",
        f"--nofile={limit}:{limit}",
        sys.executable,
        "-m",
        "jetbridge",
        "serve",
        "--address",
        "127.0.0.1",
        "--port",
        str(port),
        "--disable-auth",
        "--service",
        f"shop={shop.address}",
    ]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
