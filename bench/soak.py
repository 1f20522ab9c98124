"""The soak: a minute of steady load through the bridge while its action server restarts.

python -m bench.soak [--seconds 60] [--concurrency 16] [--restart-every 10]

Starts the example shop and a bridge (`jetbridge serve`, Bearer auth) on 127.0.0.1, then keeps
`concurrency` clients calling execute_action and get_action_list. Every `restart_every` seconds
the shop is stopped (alternately SIGTERM, which drains, and SIGKILL) and started again. At the end
it reports every answer by kind (status and `code`), the longest run of failures, and the
bridge's memory before and after, and writes bench/SOAK.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / ".out"
KEY = "soak-bearer-key-0123456789"
MAIL = {
    "name": "execute_action",
    "params": {"model": "users", "name": "mail_users", "ids": [1, 2], "params": {"subject": "s"}},
}
LIST = {"name": "get_action_list"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(args: list[str], log: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    OUT.mkdir(exist_ok=True)
    with (OUT / log).open("ab") as file:
        return subprocess.Popen(args, stdout=file, stderr=subprocess.STDOUT, env=env)


@dataclass
class Tally:
    """Every answer by kind, and the longest stretch in which nothing succeeded."""

    kinds: Counter[str] = field(default_factory=Counter)
    last_ok: float = field(default_factory=time.monotonic)
    longest_gap: float = 0.0

    def add(self, message: str, kind: str) -> None:
        self.kinds[f"{message}: {kind}"] += 1
        # The gap counts execute_action only: get_action_list is served from the bridge's cache.
        if message == "execute_action" and kind.startswith("200"):
            now = time.monotonic()
            self.longest_gap = max(self.longest_gap, now - self.last_ok)
            self.last_ok = now


async def client(
    session: aiohttp.ClientSession,
    url: str,
    tally: Tally,
    stop: asyncio.Event,
    message: dict[str, Any],
) -> None:
    headers = {"Authorization": f"Bearer {KEY}"}
    name = str(message["name"])
    while not stop.is_set():
        try:
            async with session.post(url, json=message, headers=headers) as response:
                body = await response.json(content_type=None)
                code = body.get("code", "") if isinstance(body, dict) else ""
                tally.add(name, f"{response.status} {code}".strip())
        except (aiohttp.ClientError, TimeoutError) as error:
            tally.add(name, f"connection error: {type(error).__name__}")


async def restarter(
    shop_args: list[str], shop: list[subprocess.Popen[bytes]], every: float, stop: asyncio.Event
) -> int:
    restarts = 0
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
        if stop.is_set():
            break
        how = signal.SIGTERM if restarts % 2 == 0 else signal.SIGKILL
        shop[0].send_signal(how)
        await asyncio.to_thread(shop[0].wait, 30)
        shop[0] = start(shop_args, "soak-shop.log")
        restarts += 1
    return restarts


def rss_mib(pid: int) -> float:
    return float(psutil.Process(pid).memory_info().rss) / 2**20


async def wait_ready(session: aiohttp.ClientSession, base: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            async with session.get(base + "/readyz") as response:
                body = await response.json()
                if body["ready"] and all(s["state"] == "up" for s in body["services"]):
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    raise SystemExit("the bridge did not become ready")


async def soak(seconds: float, concurrency: int, every: float) -> str:
    shop_port, bridge_port = free_port(), free_port()
    shop_args = [
        sys.executable,
        str(ROOT / "examples/python/shop.py"),
        "--address",
        f"127.0.0.1:{shop_port}",
    ]
    shop = [start(shop_args, "soak-shop.log")]
    bridge_args = [
        sys.executable, "-m", "jetbridge", "serve", "--address", "127.0.0.1",
        "--port", str(bridge_port), "--service", f"shop=127.0.0.1:{shop_port}",
    ]  # fmt: skip
    bridge = start(bridge_args, "soak-bridge.log", env={**os.environ, "BEARER_AUTH_KEY": KEY})
    base = f"http://127.0.0.1:{bridge_port}"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
            await wait_ready(session, base)
            rss_start = rss_mib(bridge.pid)
            tally, stop = Tally(), asyncio.Event()
            clients = [
                client(session, base + "/api/messages/", tally, stop, MAIL if i % 4 else LIST)
                for i in range(concurrency)
            ]
            tasks = [asyncio.create_task(c) for c in clients]
            restarts = asyncio.create_task(restarter(shop_args, shop, every, stop))
            started = time.monotonic()
            await asyncio.sleep(seconds)
            stop.set()
            await asyncio.gather(*tasks)
            elapsed = time.monotonic() - started
            restarted = await restarts
            rss_end = rss_mib(bridge.pid)
    finally:
        bridge.send_signal(signal.SIGTERM)
        bridge.wait(30)
        shop[0].send_signal(signal.SIGTERM)
        shop[0].wait(30)
    return report(tally, elapsed, concurrency, restarted, every, rss_start, rss_end)


def report(
    tally: Tally,
    elapsed: float,
    concurrency: int,
    restarts: int,
    every: float,
    rss_start: float,
    rss_end: float,
) -> str:
    now = datetime.datetime.now(datetime.UTC)
    total = sum(tally.kinds.values())
    ok = sum(n for kind, n in tally.kinds.items() if kind.endswith(": 200"))
    lines = [
        "# Soak",
        "",
        f"Written by `python -m bench.soak` on {now:%Y-%m-%d %H:%M} UTC.",
        "",
        f"- {elapsed:.0f} s of load from {concurrency} clients (3 of 4 execute_action, 1 of 4 "
        f"get_action_list, Bearer auth) through `jetbridge serve` to the example shop;",
        f"- the shop was restarted {restarts} times, every {every:.0f} s, alternately with SIGTERM "
        "(drain) and SIGKILL;",
        f"- {total} answers, {ok} of them 200 ({ok / max(total, 1):.2%}), {total / elapsed:.0f}/s;",
        f"- longest stretch without a successful execute_action: {tally.longest_gap * 1000:.0f} ms "
        "(one action server, so each restart is a gap: calls fail fast with 503 meanwhile);",
        f"- bridge RSS: {rss_start:.1f} MiB before, {rss_end:.1f} MiB after "
        f"({rss_end - rss_start:+.1f} MiB).",
        "",
        "| message: answer (status and code) | count |",
        "|---|---|",
        *(f"| {kind} | {count} |" for kind, count in tally.kinds.most_common()),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--restart-every", type=float, default=10)
    args = parser.parse_args()
    text = asyncio.run(soak(args.seconds, args.concurrency, args.restart_every))
    (ROOT / "bench" / "SOAK.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
