"""Deadlines, health, replicas, retries, limits and TLS, against real action-server processes."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from jetactions.v1 import actions_pb2, actions_pb2_grpc
from jetbridge.config import ServiceConfig
from tests.support import (
    BILLING,
    ActionServerProcess,
    Bridge,
    BridgeFactory,
    Spawn,
    service,
    until,
)


async def run(bridge: Bridge, name: str, **params: Any) -> tuple[int, Any]:
    reply = await bridge.send("execute_action", {"name": name, "params": params})
    return reply.status, reply.json()


def replicas(name: str, *servers: ActionServerProcess, **options: Any) -> ServiceConfig:
    """One service backed by several processes."""
    target = ",".join(server.address for server in servers)
    return ServiceConfig(name=name, target=target, timeout=options.pop("timeout", 10.0), **options)


@dataclass
class Load:
    """Steady load: `workers` loops calling one action until stopped; statuses counted."""

    bridge: Bridge
    action: str
    workers: int = 4
    statuses: Counter[int] | None = None
    bodies: list[Any] | None = None

    async def __aenter__(self) -> Load:
        self.statuses, self.bodies = Counter(), []
        self._stop = asyncio.Event()
        self._tasks = [asyncio.create_task(self._loop()) for _ in range(self.workers)]
        return self

    async def _loop(self) -> None:
        assert self.statuses is not None
        assert self.bodies is not None
        deadline = time.monotonic() + 60  # bounded, whatever happens
        while not self._stop.is_set() and time.monotonic() < deadline:
            status, body = await run(self.bridge, self.action, amount="1")
            self.statuses[status] += 1
            if status != 200:
                self.bodies.append(body)

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    @property
    def answered(self) -> int:
        """Requests answered so far, whatever their status."""
        assert self.statuses is not None
        return self.statuses.total()

    async def answers(self, count: int) -> None:
        """Until `count` more requests have been answered: the load has really run meanwhile."""
        target = self.answered + count
        await until(lambda: self.answered >= target, f"{count} more answers of {self.action!r}")


async def charged(server: ActionServerProcess) -> int:
    """How many `charge` calls one replica has served, asked directly (not through the bridge)."""
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = actions_pb2_grpc.ActionServiceStub(channel)
        request = actions_pb2.ExecuteActionRequest(action="stats")
        reply = await stub.ExecuteAction(request, timeout=5)
    return int(reply.result.extra.fields["charged"].number_value)


async def serving_both(*replicas: ActionServerProcess) -> bool:
    """Each replica has served calls since it (last) started: the bridge sends it load."""
    return all([await charged(replica) > 0 for replica in replicas])


async def two_in_flight(bridge: Bridge) -> bool:
    return await bridge.in_flight("billing") == 2


# --- deadlines -------------------------------------------------------------------------


async def test_the_smallest_deadline_wins(
    make_bridge: BridgeFactory, billing: ActionServerProcess
) -> None:
    bridge = await make_bridge(service("billing", billing, timeout=10))
    status, body = await run(bridge, "short_deadline")  # declares timeout=0.5
    assert status == 200
    assert 0 < body["time_remaining"] <= 0.6
    capped = await make_bridge(service("billing", billing, timeout=10), max_call_timeout=2)
    reply = await capped.send("execute_action", {"model": "invoices", "name": "echo"})
    assert 0 < reply.json()["time_remaining"] <= 2.1


async def test_expiry_is_504_and_the_action_server_sees_the_cancellation(
    make_bridge: BridgeFactory, spawn: Spawn
) -> None:
    billing = spawn(BILLING)
    bridge = await make_bridge(service("billing", billing, timeout=0.3))
    status, body = await run(bridge, "cancellable", seconds=5)
    assert status == 504
    assert body["code"] == "DEADLINE_EXCEEDED"

    async def cancelled() -> bool:
        return bool((await run(bridge, "stats"))[1]["cancelled"] == 1)

    await until(cancelled, "the cancellation seen by the server", 5)


# --- health ----------------------------------------------------------------------------


async def test_a_draining_service_fails_fast_and_comes_back(
    make_bridge: BridgeFactory, shop: ActionServerProcess, spawn: Spawn
) -> None:
    billing = spawn(BILLING, "--grace", "10")
    bridge = await make_bridge(service("shop", shop), service("billing", billing, timeout=10))
    started = billing.lines_with("slow: started")
    in_flight = asyncio.create_task(run(bridge, "slow", seconds=2))
    await asyncio.to_thread(billing.wait_for_lines, "slow: started", started + 1)
    assert billing.process is not None
    billing.process.terminate()  # SIGTERM: NOT_SERVING, drains the slow call

    async def refused_fast() -> bool:
        started = time.monotonic()
        status, body = await run(bridge, "charge", amount="1")
        return status == 503 and body["code"] == "UNAVAILABLE" and time.monotonic() - started < 1

    await until(refused_fast, "a fast 503 from the draining service", 5)
    assert await in_flight == (200, {"result": True, "message": "slept 2.0"})
    ready = (await bridge.request("GET", "/readyz")).json()
    assert {s["name"]: s["state"] for s in ready["services"]} == {"shop": "up", "billing": "down"}
    assert (await run(bridge, "refresh_stats"))[0] == 200  # the other service is unaffected

    await asyncio.to_thread(billing.process.wait, 15)
    await asyncio.to_thread(billing.start)

    async def back() -> bool:
        return (await run(bridge, "charge", amount="1"))[0] == 200

    await until(back, "charge answered again")


async def test_healthz_and_readyz(make_bridge: BridgeFactory, shop: ActionServerProcess) -> None:
    bridge = await make_bridge(service("shop", shop))
    live = await bridge.request("GET", "/healthz")
    assert live.status == 200
    assert live.json()["status"] == "ok"
    ready = await bridge.request("GET", "/readyz")
    assert ready.status == 200
    body = ready.json()
    assert body["ready"] is True
    assert body["conflicts"] == []
    (shop_status,) = body["services"]
    assert shop_status["name"] == "shop"
    assert shop_status["state"] == "up"
    assert shop_status["actions"] == 5


# --- replicas and retries -----------------------------------------------------------------


async def test_calls_are_spread_over_replicas(make_bridge: BridgeFactory, spawn: Spawn) -> None:
    first, second = spawn(BILLING), spawn(BILLING)
    bridge = await make_bridge(replicas("billing", first, second))
    pids = {(await run(bridge, "stats"))[1]["pid"] for _ in range(12)}
    assert len(pids) == 2


async def test_a_replica_lost_under_load_costs_at_most_its_in_flight_calls(
    make_bridge: BridgeFactory, spawn: Spawn
) -> None:
    first, second = spawn(BILLING), spawn(BILLING)
    bridge = await make_bridge(replicas("billing", first, second))
    async with Load(bridge, "charge") as load:
        await until(lambda: serving_both(first, second), "calls on both replicas")
        await load.answers(20)
        first.kill()
        await load.answers(60)  # the load goes on after the kill, on the replica left
    assert load.statuses is not None
    assert load.bodies is not None
    failed = sum(count for status, count in load.statuses.items() if status != 200)
    assert load.statuses[200] > 50
    assert failed <= load.workers, load.statuses  # at most the calls in flight on the dead one
    assert all(body["code"] == "UNAVAILABLE" for body in load.bodies)
    assert (await run(bridge, "charge", amount="1"))[0] == 200


async def test_a_rolling_restart_with_drain_loses_nothing(
    make_bridge: BridgeFactory, spawn: Spawn
) -> None:
    first, second = spawn(BILLING), spawn(BILLING)
    bridge = await make_bridge(replicas("billing", first, second))
    async with Load(bridge, "charge") as load:
        for replica in (first, second):
            # The bridge sends calls to both (the one restarted before, too): then restart.
            await until(lambda: serving_both(first, second), "calls on both replicas")
            await load.answers(20)
            await asyncio.to_thread(replica.stop)  # SIGTERM: drain, then exit
            await asyncio.to_thread(replica.start)
        await until(lambda: serving_both(first, second), "calls on both replicas")
        await load.answers(20)
    assert load.statuses is not None
    assert set(load.statuses) == {200}, (load.statuses, load.bodies)


async def test_a_flapping_service_never_breaks_the_bridge(
    make_bridge: BridgeFactory, shop: ActionServerProcess, spawn: Spawn
) -> None:
    billing = spawn(BILLING)
    bridge = await make_bridge(service("shop", shop), service("billing", billing))
    async with (
        Load(bridge, "charge", workers=2) as flapping,
        Load(bridge, "refresh_stats", workers=2) as steady,
    ):
        for _ in range(3):
            await flapping.answers(10)  # up: the bridge serves it
            await steady.answers(10)
            billing.kill()
            await flapping.answers(10)  # down: the bridge answers 503 at once
            await steady.answers(10)
            await asyncio.to_thread(billing.start)
    assert flapping.statuses is not None
    assert flapping.bodies is not None
    assert set(flapping.statuses) <= {200, 503}, flapping.statuses
    assert all(body["code"] == "UNAVAILABLE" and body["detail"] for body in flapping.bodies)
    assert steady.statuses is not None
    assert set(steady.statuses) == {200}

    async def recovered() -> bool:
        return (await run(bridge, "charge", amount="1"))[0] == 200

    await until(recovered, "charge answered again")


async def test_only_idempotent_actions_are_retried(
    make_bridge: BridgeFactory, spawn: Spawn
) -> None:
    billing = spawn(BILLING)
    bridge = await make_bridge(service("billing", billing))
    # Each fails every other attempt with UNAVAILABLE.
    idempotent = [await run(bridge, "flaky_idempotent") for _ in range(4)]
    assert [status for status, _ in idempotent] == [200] * 4
    assert [body["attempt"] for _, body in idempotent] == [2, 4, 6, 8]
    plain = [(await run(bridge, "flaky"))[0] for _ in range(4)]
    assert plain == [503, 200, 503, 200]


# --- limits -------------------------------------------------------------------------------


async def test_a_busy_service_refuses_at_once_instead_of_queueing(
    make_bridge: BridgeFactory, billing: ActionServerProcess
) -> None:
    bridge = await make_bridge(
        ServiceConfig(name="billing", target=billing.address, timeout=10, max_concurrent_calls=2)
    )
    slow = [asyncio.create_task(run(bridge, "slow", seconds=1)) for _ in range(2)]
    await until(lambda: two_in_flight(bridge), "both slow calls in flight")
    reply = await bridge.send("execute_action", {"name": "charge", "params": {"amount": "1"}})
    assert reply.status == 503
    assert reply.headers["Retry-After"] == "1"
    assert reply.json()["code"] == "OVERLOADED"
    assert [status for status, _ in await asyncio.gather(*slow)] == [200, 200]
    assert (await run(bridge, "charge", amount="1"))[0] == 200


async def test_file_results_up_to_the_message_limit(
    make_bridge: BridgeFactory, billing: ActionServerProcess
) -> None:
    bridge = await make_bridge(
        service("billing", billing), max_message_bytes=2 * 1024 * 1024, max_body_bytes=512 * 1024
    )
    fits = await bridge.send("execute_action", {"name": "big_file", "params": {"size": 1_500_000}})
    assert fits.status == 200
    assert len(fits.body) == 1_500_000
    too_big = await bridge.send(
        "execute_action", {"name": "big_file", "params": {"size": 3_000_000}}
    )
    assert too_big.status == 502
    body = too_big.json()
    assert body["code"] == "RESOURCE_EXHAUSTED"
    assert "max_message_bytes" in body["detail"]
    assert (await run(bridge, "charge", amount="1"))[0] == 200


# --- TLS ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _write_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return key


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    names: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A CA, a server certificate for the name billing.test only, and a client certificate."""
    root = tmp_path_factory.mktemp("pki")
    ca_key = _write_key(root / "ca.key")
    ca = _certificate("test CA", ca_key, None, ca_key)
    (root / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    server_key = _write_key(root / "server.key")
    server = _certificate("billing.test", server_key, ca, ca_key, [x509.DNSName("billing.test")])
    (root / "server.pem").write_bytes(server.public_bytes(serialization.Encoding.PEM))
    client_key = _write_key(root / "client.key")
    client = _certificate("jetbridge", client_key, ca, ca_key)
    (root / "client.pem").write_bytes(client.public_bytes(serialization.Encoding.PEM))
    return Pki(
        root / "ca.pem",
        root / "server.pem",
        root / "server.key",
        root / "client.pem",
        root / "client.key",
    )


async def test_tls_with_server_name_override(
    make_bridge: BridgeFactory, spawn: Spawn, pki: Pki
) -> None:
    billing = spawn(
        BILLING, "--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key), start=False
    )
    billing.start(wait=False)
    good = ServiceConfig(
        name="billing",
        target=billing.address,
        timeout=5,
        ca_file=str(pki.ca),
        server_name="billing.test",
    )
    bridge = await make_bridge(good)

    async def served() -> bool:
        return (await run(bridge, "charge", amount="1"))[0] == 200

    await until(served, "charge served over TLS")
    # The certificate does not name 127.0.0.1, so without the override TLS must fail.
    wrong_name = await make_bridge(
        ServiceConfig(name="billing", target=billing.address, timeout=5, ca_file=str(pki.ca))
    )
    assert (await run(wrong_name, "charge", amount="1"))[0] == 404  # never discovered
    plaintext = await make_bridge(service("billing", billing))
    assert "charge" not in [a["name"] for a in (await plaintext.send("get_action_list")).json()]


async def test_mutual_tls_requires_the_bridge_certificate(
    make_bridge: BridgeFactory, spawn: Spawn, pki: Pki
) -> None:
    billing = spawn(
        BILLING,
        "--tls-cert",
        str(pki.server_cert),
        "--tls-key",
        str(pki.server_key),
        "--tls-client-ca",
        str(pki.ca),
        start=False,
    )
    billing.start(wait=False)
    base = ServiceConfig(
        name="billing",
        target=billing.address,
        timeout=5.0,
        ca_file=str(pki.ca),
        server_name="billing.test",
    )
    with_cert = await make_bridge(
        dataclasses.replace(base, cert_file=str(pki.client_cert), key_file=str(pki.client_key))
    )

    async def served() -> bool:
        return (await run(with_cert, "charge", amount="1"))[0] == 200

    await until(served, "charge served over TLS")
    without_cert = await make_bridge(base)
    assert (await run(without_cert, "charge", amount="1"))[0] == 404
    status = (await without_cert.request("GET", "/readyz")).json()["services"][0]
    assert status["state"] == "down"


async def test_readyz_shows_addresses_and_errors_only_to_authenticated_callers(
    make_bridge: BridgeFactory, shop: ActionServerProcess
) -> None:
    key = "k" * 32
    down = ServiceConfig(name="gone", target="127.0.0.1:1", timeout=1)
    bridge = await make_bridge(
        service("shop", shop), down, disable_auth=False, bearer_auth_key=(key,)
    )
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        public = (await bridge.request("GET", "/readyz", headers=headers)).json()
        assert [set(s) for s in public["services"]] == [
            {"name", "state", "actions", "in_flight"}
        ] * 2
        assert "127.0.0.1" not in str(public)
        index = (await bridge.request("GET", "/", headers=headers)).json()
        assert "127.0.0.1" not in str(index)
    detailed = await bridge.request("GET", "/readyz", headers={"Authorization": f"Bearer {key}"})
    gone = detailed.json()["services"][1]
    assert gone["target"] == "127.0.0.1:1"
    assert gone["error"]
