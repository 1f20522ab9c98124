"""Authentication and caller identity, over real HTTP, against a local fake of Jet's API.

JWTs are signed with key pairs made at test time and the bridge trusts the test key; a tiny
in-process action server records the Caller each request carries, so every check goes through the
real app, the real gRPC hop and the real HTTP client of Jet's API.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from google.protobuf.json_format import MessageToDict

from jetactions.v1 import actions_pb2
from jetbridge.auth import Authenticator, caller_from_claims, default_verify_key_pem
from jetbridge.cli import check_auth
from jetbridge.config import Auth, ConfigError, ServiceConfig, load_settings
from jetbridge.credentials import parse_authorization
from tests.support import (
    OK,
    Bridge,
    BridgeFactory,
    ExecuteContext,
    FakeClock,
    HandWritten,
    OptionsContext,
    Reply,
    action_service,
    common_action,
    free_port,
    jet_claims,
    public_pem,
    sign_jwt,
    until,
)

PROJECT = "shop"
PROJECT_TOKEN_SETTING = "project-token-setting-0001"
BEARER_KEYS = ("bearer-key-current-0123456789", "bearer-key-previous-9876543210")
WHOAMI = {"name": "whoami", "params": {}}
# Jet Admin's key as PROTOCOL.md ships it, beside the repository (absent in some checkouts).
SHARED_KEY = Path(__file__).resolve().parents[2] / "shared" / "jet_admin_public_key.pem"


# ---------------------------------------------------------------- keys and tokens


@dataclass(frozen=True)
class Keys:
    """The trusted test key pair, an untrusted one and an EC key, made once per module."""

    trusted: rsa.RSAPrivateKey
    untrusted: rsa.RSAPrivateKey
    elliptic: ec.EllipticCurvePrivateKey

    @property
    def public_pem(self) -> str:
        return public_pem(self.trusted)


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys(
        trusted=rsa.generate_private_key(public_exponent=65537, key_size=2048),
        untrusted=rsa.generate_private_key(public_exponent=65537, key_size=2048),
        elliptic=ec.generate_private_key(ec.SECP256R1()),
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict[str, Any], payload: dict[str, Any], secret: bytes | None) -> str:
    """A token built by hand: `alg: none`, or HMAC keyed with whatever an attacker has."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    if secret is None:
        return signing_input + "."
    digest = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(digest)}"


# ---------------------------------------------------------------- action server and fake Jet


class Recorder(HandWritten):
    """An action server that records the Caller of every request."""

    listing = actions_pb2.ListActionsResponse(
        actions=[common_action("whoami")],
        field_options=[actions_pb2.FieldRef(model="orders", field="city")],
    )

    def __init__(self) -> None:
        self.callers: list[actions_pb2.Caller] = []

    async def ExecuteAction(
        self, request: actions_pb2.ExecuteActionRequest, context: ExecuteContext
    ) -> actions_pb2.ExecuteActionResponse:
        self.callers.append(request.caller)
        return OK

    async def GetFieldOptions(
        self, request: actions_pb2.GetFieldOptionsRequest, context: OptionsContext
    ) -> actions_pb2.GetFieldOptionsResponse:
        self.callers.append(request.caller)
        return actions_pb2.GetFieldOptionsResponse(options=[actions_pb2.Option(name="Rome")])


@dataclass
class ActionServer:
    recorder: Recorder
    config: ServiceConfig


@pytest.fixture
async def action_server() -> AsyncIterator[ActionServer]:
    recorder = Recorder()
    async with action_service(recorder) as address:
        yield ActionServer(recorder, ServiceConfig(name="rec", target=address, timeout=5))


@dataclass
class FakeJet:
    """Jet Admin's `project_auth/` on loopback; the answer depends on the token sent."""

    url: str = ""
    calls: list[dict[str, str]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def count(self, token: str) -> int:
        return sum(call["token"] == token for call in self.calls)

    async def project_auth(self, request: web.Request) -> web.Response:
        form = {key: str(value) for key, value in (await request.post()).items()}
        self.calls.append(form)
        token = form.get("token", "")
        if token.startswith("slow-"):  # longer than the bridge waits
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.release.wait(), 5)
        if token.startswith("slowish-"):  # answers, but slowly enough to overlap requests
            await asyncio.sleep(0.15)
        if token.startswith("refused-"):
            return web.json_response({"detail": "Invalid token"}, status=403)
        if token.startswith("disabled-"):
            return web.json_response({"access_disabled": True, "warning": "Plan expired"})
        if token.startswith("broken-"):
            return web.json_response({"detail": "oops"}, status=502)
        if token.startswith("garbage-"):
            return web.Response(text="<html>maintenance</html>")
        return web.json_response({"result": True})


@pytest.fixture
async def fake_jet() -> AsyncIterator[FakeJet]:
    fake = FakeJet()
    app = web.Application()
    app.router.add_post("/api/project_auth/", fake.project_auth)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    fake.url = str(server.make_url("/api"))
    yield fake
    fake.release.set()
    await server.close()


AuthBridge = Callable[..., Awaitable[Bridge]]


@pytest.fixture
def auth_bridge(
    make_bridge: BridgeFactory, action_server: ActionServer, fake_jet: FakeJet, keys: Keys
) -> AuthBridge:
    """A bridge with every method configured (the test key trusted); kwargs override."""

    async def make(**overrides: Any) -> Bridge:
        settings: dict[str, Any] = {
            "disable_auth": False,
            "project": PROJECT,
            "environment": "prod",
            "token": PROJECT_TOKEN_SETTING,
            "jwt_verify_key": keys.public_pem,
            "bearer_auth_key": BEARER_KEYS,
            "api_base_url": fake_jet.url,
            "auth_timeout": 0.5,
        }
        settings.update(overrides)
        return await make_bridge(action_server.config, **settings)

    return make


async def call(
    bridge: Bridge,
    authorization: str | None,
    name: str = "execute_action",
    params: Any = WHOAMI,
) -> Reply:
    headers = {} if authorization is None else {"Authorization": authorization}
    return await bridge.post(json={"name": name, "params": params}, headers=headers)


def assert_error(reply: Reply, status: int, words: str) -> None:
    assert reply.status == status, reply.body
    assert reply.headers["Content-Type"].startswith("application/json")
    assert words in reply.json()["detail"]


# ---------------------------------------------------------------- JWT


async def test_valid_jwt_reaches_the_action_server_with_the_caller(
    auth_bridge: AuthBridge, action_server: ActionServer, keys: Keys
) -> None:
    bridge = await auth_bridge()
    token = sign_jwt(jet_claims(), keys.trusted)
    reply = await call(bridge, f"JWT {token}")
    assert reply.status == 200, reply.body
    assert reply.json() == {"result": True, "message": "ok"}
    caller = action_server.recorder.callers[-1]
    assert caller.auth_method == actions_pb2.AUTH_METHOD_JWT
    assert (caller.user_id, caller.user_email) == ("7", "ada@example.com")
    assert (caller.project, caller.environment) == (PROJECT, "prod")
    claims_sent = MessageToDict(caller.claims)
    assert claims_sent["projects"][PROJECT]["owner"] is True
    assert claims_sent["user"]["email"] == "ada@example.com"
    assert caller.token == ""  # not forwarded unless configured


async def test_field_options_carry_the_caller_too(
    auth_bridge: AuthBridge, action_server: ActionServer, keys: Keys
) -> None:
    bridge = await auth_bridge()
    token = sign_jwt(jet_claims(user={"id": "u-1", "email": "b@example.com"}), keys.trusted)
    params = {"model": "orders", "field": "city", "form": {}}
    reply = await call(bridge, f"JWT {token}", "get_field_options", params)
    assert reply.status == 200, reply.body
    caller = action_server.recorder.callers[-1]
    assert (caller.auth_method, caller.user_id) == (actions_pb2.AUTH_METHOD_JWT, "u-1")


async def test_forward_token_sends_the_raw_credential(
    auth_bridge: AuthBridge, action_server: ActionServer, keys: Keys
) -> None:
    bridge = await auth_bridge(forward_token=True)
    token = sign_jwt(jet_claims(), keys.trusted)
    assert (await call(bridge, f"JWT {token}")).status == 200
    assert action_server.recorder.callers[-1].token == token


@pytest.mark.parametrize(
    ("case", "status", "words"),
    [
        ("expired", 403, "expired"),
        ("no_exp", 403, "no expiry"),
        ("not_yet_valid", 403, "not valid yet"),
        ("wrong_key", 403, "signature"),
        ("wrong_project", 403, "no access to project 'shop'"),
        ("null_project_entry", 403, "no access"),
        ("no_projects_claim", 403, "no access"),
        ("projects_not_an_object", 403, "no access"),
        ("alg_none", 403, "RS256"),
        ("hs256_with_public_key", 403, "RS256"),
        ("rs512", 403, "RS256"),
        ("ps256", 403, "RS256"),
        ("es256", 403, "RS256"),
        ("garbage", 401, "malformed"),
        ("two_segments", 401, "malformed"),
        ("bad_json", 401, "malformed"),
        ("tampered_payload", 403, "signature"),
    ],
)
async def test_bad_jwts_are_refused(
    auth_bridge: AuthBridge,
    action_server: ActionServer,
    keys: Keys,
    case: str,
    status: int,
    words: str,
) -> None:
    now = int(time.time())
    public_pem = keys.public_pem.encode()
    tokens: dict[str, Callable[[], str]] = {
        "expired": lambda: sign_jwt(jet_claims(exp=now - 60), keys.trusted),
        "no_exp": lambda: sign_jwt(jet_claims(exp=...), keys.trusted),
        "not_yet_valid": lambda: sign_jwt(jet_claims(nbf=now + 600), keys.trusted),
        "wrong_key": lambda: sign_jwt(jet_claims(), keys.untrusted),
        "wrong_project": lambda: sign_jwt(jet_claims(projects={"other": {}}), keys.trusted),
        "null_project_entry": lambda: sign_jwt(jet_claims(projects={PROJECT: None}), keys.trusted),
        "no_projects_claim": lambda: sign_jwt(jet_claims(projects=...), keys.trusted),
        "projects_not_an_object": lambda: sign_jwt(jet_claims(projects=PROJECT), keys.trusted),
        "alg_none": lambda: forge({"alg": "none", "typ": "JWT"}, jet_claims(), None),
        # The classic confusion: HMAC keyed with the (public) RSA verification key.
        "hs256_with_public_key": lambda: forge(
            {"alg": "HS256", "typ": "JWT"}, jet_claims(), public_pem
        ),
        "rs512": lambda: sign_jwt(jet_claims(), keys.trusted, "RS512"),
        "ps256": lambda: sign_jwt(jet_claims(), keys.trusted, "PS256"),
        "es256": lambda: sign_jwt(jet_claims(), keys.elliptic, "ES256"),
        "garbage": lambda: "not-a-token",
        "two_segments": lambda: "abc.def",
        "bad_json": lambda: f"{_b64(b'{not json')}.{_b64(b'{}')}.{_b64(b'sig')}",
        "tampered_payload": lambda: _tamper(sign_jwt(jet_claims(), keys.trusted)),
    }
    bridge = await auth_bridge()
    reply = await call(bridge, f"JWT {tokens[case]()}")
    assert_error(reply, status, words)
    assert action_server.recorder.callers == []


def _tamper(token: str) -> str:
    header, _, signature = token.split(".")
    admin = jet_claims(projects={PROJECT: {}, "everything": {}}, admin=True)
    return f"{header}.{_b64(json.dumps(admin).encode())}.{signature}"


async def test_expiry_within_the_leeway_is_accepted(auth_bridge: AuthBridge, keys: Keys) -> None:
    bridge = await auth_bridge(jwt_leeway=30)
    token = sign_jwt(jet_claims(exp=int(time.time()) - 10), keys.trusted)
    assert (await call(bridge, f"JWT {token}")).status == 200
    strict = await auth_bridge(jwt_leeway=0)
    assert_error(await call(strict, f"JWT {token}"), 403, "expired")


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every JWT the bridge verifies (decodes), in order: what its caches saved it from."""
    tokens: list[str] = []
    real_decode = jwt.decode

    def counting_decode(token: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        tokens.append(token)
        return real_decode(token, *args, **kwargs)

    monkeypatch.setattr("jetbridge.auth.jwt.decode", counting_decode)
    return tokens


async def test_accepted_jwts_are_remembered_but_never_past_their_expiry(
    auth_bridge: AuthBridge, keys: Keys, decoded: list[str]
) -> None:
    # Expired 5 s ago, but the leeway lets it live ~1.5 s more: room for three calls on a
    # loaded machine.
    exp = int(time.time()) - 5
    bridge = await auth_bridge(jwt_leeway=time.time() - exp + 1.5)
    token = sign_jwt(jet_claims(exp=exp), keys.trusted)
    for _ in range(3):
        assert (await call(bridge, f"JWT {token}")).status == 200
    assert len(decoded) == 1
    # Real time is what this checks (PyJWT reads the wall clock): past the expiry, the
    # remembered token is checked again and refused. The fake-clock test below covers the cap.
    await asyncio.sleep(1.6)
    assert_error(await call(bridge, f"JWT {token}"), 403, "expired")
    assert len(decoded) == 2


@pytest.mark.parametrize(("expires_in", "cache_ttl"), [(30, 3600), (3600, 30)])
async def test_a_remembered_jwt_is_checked_again_at_its_expiry_or_the_cache_ttl(
    auth_bridge: AuthBridge,
    keys: Keys,
    decoded: list[str],
    ttl_clock: FakeClock,
    expires_in: int,
    cache_ttl: float,
) -> None:
    bridge = await auth_bridge(jwt_leeway=0, auth_cache_ttl=cache_ttl)
    token = sign_jwt(jet_claims(exp=int(time.time()) + expires_in), keys.trusted)
    assert (await call(bridge, f"JWT {token}")).status == 200
    ttl_clock.advance(min(expires_in, cache_ttl) - 2)  # the exp claim is whole seconds
    assert (await call(bridge, f"JWT {token}")).status == 200
    assert len(decoded) == 1
    ttl_clock.advance(2)
    assert (await call(bridge, f"JWT {token}")).status == 200  # the wall clock has not moved
    assert len(decoded) == 2


async def test_jwt_needs_project_configured(auth_bridge: AuthBridge, keys: Keys) -> None:
    bridge = await auth_bridge(project="")
    reply = await call(bridge, f"JWT {sign_jwt(jet_claims(), keys.trusted)}")
    assert_error(reply, 403, "set PROJECT")


def test_default_key_is_jet_admins() -> None:
    default = Authenticator(Auth(project=PROJECT)).verify_key
    assert default.key_size == 4096
    assert default_verify_key_pem().startswith("-----BEGIN PUBLIC KEY-----")
    if SHARED_KEY.exists():  # the copy shipped in the package is the one PROTOCOL.md names
        assert default_verify_key_pem().strip() == SHARED_KEY.read_text().strip()


async def test_default_key_refuses_tokens_of_other_keys(
    auth_bridge: AuthBridge, keys: Keys
) -> None:
    bridge = await auth_bridge(jwt_verify_key="")
    reply = await call(bridge, f"JWT {sign_jwt(jet_claims(), keys.trusted)}")
    assert_error(reply, 403, "signature")


# ---------------------------------------------------------------- the header itself


@pytest.mark.parametrize(
    ("authorization", "words"),
    [
        (None, "not provided"),
        ("", "not provided"),
        ("Basic dXNlcjpwYXNz", "expected JWT, Token, ProjectToken or Bearer"),
        ("JWT", "expected JWT"),
        ("JWT    ", "expected JWT"),
        ("Token ;project_child=x", "expected JWT"),
    ],
)
async def test_missing_or_unparsable_credentials_are_401(
    auth_bridge: AuthBridge, authorization: str | None, words: str
) -> None:
    bridge = await auth_bridge()
    assert_error(await call(bridge, authorization), 401, words)


async def test_jwt_wins_over_other_credentials(
    auth_bridge: AuthBridge, action_server: ActionServer, keys: Keys
) -> None:
    bridge = await auth_bridge()
    token = sign_jwt(jet_claims(), keys.trusted)
    reply = await call(bridge, f"Bearer wrong-key, JWT {token}")
    assert reply.status == 200, reply.body
    assert action_server.recorder.callers[-1].auth_method == actions_pb2.AUTH_METHOD_JWT
    # A valid Bearer key does not rescue a bad JWT next to it.
    bad = sign_jwt(jet_claims(), keys.untrusted)
    assert_error(await call(bridge, f"Bearer {BEARER_KEYS[0]}, JWT {bad}"), 403, "signature")


def test_parse_authorization_reads_params_and_schemes() -> None:
    credential = parse_authorization("Token abc;project_child=kid;x=1")
    assert credential is not None
    assert (credential.scheme, credential.value) == ("Token", "abc")
    assert dict(credential.params) == {"project_child": "kid", "x": "1"}
    assert "abc" not in repr(credential)
    lower = parse_authorization("bearer k")
    assert lower is not None
    assert lower.scheme == "Bearer"
    first_known = parse_authorization("Foo x, ProjectToken p, Bearer b")
    assert first_known is not None
    assert first_known.scheme == "ProjectToken"
    assert parse_authorization("Foo x, Bar y") is None


# ---------------------------------------------------------------- Bearer


async def test_bearer_keys_rotate_and_wrong_ones_are_403(
    auth_bridge: AuthBridge, action_server: ActionServer
) -> None:
    bridge = await auth_bridge()
    for key in BEARER_KEYS:
        assert (await call(bridge, f"Bearer {key}")).status == 200
    caller = action_server.recorder.callers[-1]
    assert caller.auth_method == actions_pb2.AUTH_METHOD_BEARER
    assert (caller.project, caller.environment, caller.user_id) == (PROJECT, "prod", "")
    for wrong in ("nope", BEARER_KEYS[0][:-1], BEARER_KEYS[0] + "x"):
        assert_error(await call(bridge, f"Bearer {wrong}"), 403, "not valid")
    unconfigured = await auth_bridge(bearer_auth_key=())
    assert_error(await call(unconfigured, f"Bearer {BEARER_KEYS[0]}"), 403, "not configured")


# ---------------------------------------------------------------- Token and ProjectToken


async def test_user_token_is_checked_with_jet_and_cached(
    auth_bridge: AuthBridge, action_server: ActionServer, fake_jet: FakeJet
) -> None:
    bridge = await auth_bridge()
    for _ in range(3):
        assert (await call(bridge, "Token user-ok-1")).status == 200
    assert fake_jet.calls == [{"project_token": PROJECT_TOKEN_SETTING, "token": "user-ok-1"}]
    caller = action_server.recorder.callers[-1]
    assert caller.auth_method == actions_pb2.AUTH_METHOD_USER_TOKEN
    assert (caller.project, caller.environment) == (PROJECT, "prod")


async def test_project_token_passes_project_child(
    auth_bridge: AuthBridge, action_server: ActionServer, fake_jet: FakeJet
) -> None:
    bridge = await auth_bridge()
    reply = await call(bridge, "ProjectToken project-ok-1;project_child=child-7")
    assert reply.status == 200, reply.body
    assert fake_jet.calls == [
        {
            "project_token": PROJECT_TOKEN_SETTING,
            "token": "project-ok-1",
            "project_child": "child-7",
        }
    ]
    assert action_server.recorder.callers[-1].auth_method == actions_pb2.AUTH_METHOD_PROJECT_TOKEN
    # Another child is another question.
    await call(bridge, "ProjectToken project-ok-1;project_child=child-8")
    assert fake_jet.count("project-ok-1") == 2


@pytest.mark.parametrize(
    ("token", "status", "words"),
    [
        ("refused-1", 403, "Jet Admin refused"),
        ("disabled-1", 403, "Jet Admin refused"),
        ("broken-1", 503, "Jet Admin's API"),
        ("garbage-1", 503, "Jet Admin's API"),
    ],
)
async def test_jet_refusals_and_failures(
    auth_bridge: AuthBridge,
    action_server: ActionServer,
    fake_jet: FakeJet,
    token: str,
    status: int,
    words: str,
) -> None:
    bridge = await auth_bridge()
    assert_error(await call(bridge, f"Token {token}"), status, words)
    assert_error(await call(bridge, f"Token {token}"), status, words)
    # Refusals are cached (briefly); failures are asked again, so Jet recovering is noticed.
    assert fake_jet.count(token) == (1 if status == 403 else 2)
    assert action_server.recorder.callers == []


async def test_slow_jet_times_out_closed_without_blocking_others(
    auth_bridge: AuthBridge, fake_jet: FakeJet
) -> None:
    bridge = await auth_bridge(auth_timeout=0.4)
    started = time.monotonic()
    slow = asyncio.create_task(call(bridge, "Token slow-1"))
    await until(lambda: fake_jet.count("slow-1"), "the slow lookup at Jet's API")
    # The event loop stays free while Jet's API is slow: other requests are served meanwhile.
    assert (await call(bridge, f"Bearer {BEARER_KEYS[0]}")).status == 200
    assert not slow.done()
    assert_error(await slow, 503, "try again")
    # Not before auth_timeout, and well before the fake would answer (5 s).
    assert 0.35 < time.monotonic() - started < 4
    assert not fake_jet.release.is_set()


async def test_jet_down_fails_closed_with_json_503(auth_bridge: AuthBridge) -> None:
    bridge = await auth_bridge(api_base_url=f"http://127.0.0.1:{free_port()}/api")
    reply = await call(bridge, "Token user-ok-2")
    assert_error(reply, 503, "Could not verify the credentials")
    assert reply.json()["code"] == "UNAVAILABLE"


async def test_concurrent_identical_lookups_call_jet_once(
    auth_bridge: AuthBridge, fake_jet: FakeJet
) -> None:
    bridge = await auth_bridge()
    replies = await asyncio.gather(*(call(bridge, "Token slowish-1") for _ in range(8)))
    assert [reply.status for reply in replies] == [200] * 8
    assert fake_jet.count("slowish-1") == 1


async def test_cache_expires(
    auth_bridge: AuthBridge, fake_jet: FakeJet, ttl_clock: FakeClock
) -> None:
    bridge = await auth_bridge(auth_cache_ttl=60, auth_failure_cache_ttl=5)
    await call(bridge, "Token user-a")
    ttl_clock.advance(59.9)
    await call(bridge, "Token user-a")
    assert fake_jet.count("user-a") == 1  # still remembered just before the TTL
    ttl_clock.advance(0.1)
    await call(bridge, "Token user-a")
    assert fake_jet.count("user-a") == 2  # expired


async def test_refusals_are_remembered_for_their_own_shorter_ttl(
    auth_bridge: AuthBridge, fake_jet: FakeJet, ttl_clock: FakeClock
) -> None:
    bridge = await auth_bridge(auth_cache_ttl=60, auth_failure_cache_ttl=5)
    assert_error(await call(bridge, "Token refused-2"), 403, "Jet Admin refused")
    ttl_clock.advance(4.9)
    assert_error(await call(bridge, "Token refused-2"), 403, "Jet Admin refused")
    assert fake_jet.count("refused-2") == 1
    ttl_clock.advance(0.1)
    assert_error(await call(bridge, "Token refused-2"), 403, "Jet Admin refused")
    assert fake_jet.count("refused-2") == 2  # asked again: a refusal is not kept for 60 s


async def test_cache_is_bounded(auth_bridge: AuthBridge, fake_jet: FakeJet) -> None:
    bridge = await auth_bridge(auth_cache_size=2)
    await call(bridge, "Token user-a")
    for token in ("user-b", "user-c"):  # the LRU holds two: user-a is pushed out
        await call(bridge, f"Token {token}")
    await call(bridge, "Token user-c")
    assert fake_jet.count("user-c") == 1
    await call(bridge, "Token user-a")
    assert fake_jet.count("user-a") == 2


async def test_token_needs_token_setting_and_does_not_call_jet(
    auth_bridge: AuthBridge, fake_jet: FakeJet
) -> None:
    bridge = await auth_bridge(token="")
    assert_error(await call(bridge, "Token user-ok-3"), 403, "set TOKEN")
    assert_error(await call(bridge, "ProjectToken user-ok-3"), 403, "set TOKEN")
    assert fake_jet.calls == []


async def test_credentials_never_reach_the_log(
    auth_bridge: AuthBridge, keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bridge = await auth_bridge(forward_token=True)
    down = await auth_bridge(api_base_url=f"http://127.0.0.1:{free_port()}/api")
    jwt_bad = sign_jwt(jet_claims(), keys.untrusted)
    jwt_good = sign_jwt(jet_claims(), keys.trusted)
    secrets = ["user-ok-SECRET-41", "refused-SECRET-42", "broken-SECRET-43", "down-SECRET-44"]
    await call(bridge, f"Token {secrets[0]}")
    await call(bridge, f"Token {secrets[1]}")
    await call(bridge, f"ProjectToken {secrets[2]};project_child=c")
    await call(down, f"Token {secrets[3]}")
    await call(bridge, f"JWT {jwt_bad}")
    await call(bridge, f"JWT {jwt_good}")
    await call(bridge, "Bearer wrong-SECRET-45")
    assert "Jet Admin's API" in caplog.text  # the failures were logged...
    for secret in [*secrets, jwt_bad, jwt_good, jwt_good.split(".")[2], "wrong-SECRET-45"]:
        assert secret not in caplog.text  # ...without any credential


async def test_disable_auth_accepts_anything(
    auth_bridge: AuthBridge, action_server: ActionServer
) -> None:
    bridge = await auth_bridge(disable_auth=True)
    assert (await call(bridge, None)).status == 200
    assert action_server.recorder.callers[-1] == actions_pb2.Caller()


# ---------------------------------------------------------------- caller mapping


def test_caller_reads_scalar_and_object_claim_forms() -> None:
    settings = Auth(project="fallback", environment="fallback-env")
    scalar = caller_from_claims({"user": 42, "project": "p", "environment": "e"}, settings)
    assert (scalar.user_id, scalar.user_email, scalar.project, scalar.environment) == (
        "42",
        "",
        "p",
        "e",
    )
    objects = caller_from_claims(
        {
            "user": {"uid": "u9", "email": "x@example.com"},
            "project": {"unique_name": "shop", "name": "Shop"},
            "environment": {"name": "staging"},
        },
        settings,
    )
    assert (objects.user_id, objects.user_email, objects.project, objects.environment) == (
        "u9",
        "x@example.com",
        "shop",
        "staging",
    )
    sparse = caller_from_claims({"sub": "s1", "email": "s@example.com", "user": True}, settings)
    assert (sparse.user_id, sparse.user_email) == ("s1", "s@example.com")
    assert (sparse.project, sparse.environment) == ("fallback", "fallback-env")
    assert sparse.claims["user"] is True


# ---------------------------------------------------------------- settings and start-up


def test_auth_settings_from_the_environment(keys: Keys, tmp_path: Path) -> None:
    base = {"JETBRIDGE_SERVICES": "a=127.0.0.1:1"}
    escaped = keys.public_pem.replace("\n", "\\n")
    settings = load_settings(
        environ={
            **base,
            "PROJECT": "shop",
            "TOKEN": "t0ken",
            "ENVIRONMENT": "prod",
            "JWT_VERIFY_KEY": escaped,
            "BEARER_AUTH_KEY": " bearer-one , bearer-two ,",
            "API_BASE_URL": "http://127.0.0.1:9/api/",
            "JETBRIDGE_JWT_LEEWAY": "0",
            "JETBRIDGE_AUTH_CACHE_TTL": "0",
            "JETBRIDGE_FORWARD_TOKEN": "yes",
        }
    )
    assert settings.auth.bearer_keys == ("bearer-one", "bearer-two")
    assert settings.auth.api_base_url == "http://127.0.0.1:9/api"
    assert (settings.auth.jwt_leeway, settings.auth.cache_ttl, settings.auth.forward_token) == (
        0,
        0,
        True,
    )
    assert Authenticator(settings.auth).verify_key.public_numbers() == (
        keys.trusted.public_key().public_numbers()
    )
    assert "t0ken" not in repr(settings)
    assert "bearer-one" not in repr(settings)
    path = tmp_path / "key.pem"
    path.write_text(keys.public_pem)
    from_file = load_settings(environ={**base, "JWT_VERIFY_KEY": str(path)})
    assert from_file.auth.jwt_verify_key.strip() == keys.public_pem.strip()


@pytest.mark.parametrize(
    ("env", "value", "words"),
    [
        ("JWT_VERIFY_KEY", "/nonexistent/key.pem", "neither PEM text nor a readable file"),
        ("JWT_VERIFY_KEY", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", "PEM"),
        ("API_BASE_URL", "ftp://x", "http"),
        ("JETBRIDGE_AUTH_TIMEOUT", "0", "positive"),
        ("JETBRIDGE_JWT_LEEWAY", "-1", "zero or a positive"),
    ],
)
def test_bad_auth_settings_are_refused(env: str, value: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        load_settings(environ={"JETBRIDGE_SERVICES": "a=127.0.0.1:1", env: value})


def test_verify_key_must_be_rsa_of_2048_bits_or_more(keys: Keys) -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = (
        keys.elliptic.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    for key_pem, words in ((public_pem(small), "2048"), (pem, "RSA")):
        with pytest.raises(ConfigError, match=words):
            load_settings(
                environ={"JETBRIDGE_SERVICES": "a=127.0.0.1:1", "JWT_VERIFY_KEY": key_pem}
            )


def test_serve_refuses_to_start_without_authentication() -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PROJECT", "TOKEN", "BEARER_AUTH_KEY", "DISABLE_AUTH", "JETBRIDGE_CONFIG"}
    }
    args = ["--address", "127.0.0.1", "--port", str(free_port()), "--service", "a=127.0.0.1:1"]
    result = subprocess.run(
        [sys.executable, "-m", "jetbridge", "serve", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2  # a bad setting, like every other
    assert "configuration error: no authentication is configured" in result.stderr
    assert "--disable-auth" in result.stderr


def test_check_auth_logs_methods_and_warnings(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    check_auth(Auth(project="shop", token="t", bearer_keys=("short",)))
    assert "authentication: JWT, Token, ProjectToken, Bearer" in caplog.text
    assert "shorter than 16 characters" in caplog.text
    assert "short" not in caplog.text.replace("shorter", "")
    check_auth(Auth(disabled=True))
    assert "authentication is DISABLED" in caplog.text
    with pytest.raises(SystemExit) as refused:
        check_auth(Auth())
    assert refused.value.code == 2


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    "absurd",
    [
        {"exp": 10**400},
        {"user_id": 10**400},
        {"extra": 2**60},
        {"deep": _nested(200)},
        {"user": {"id": "x" * 10, "more": _nested(40)}},
    ],
    ids=["huge_exp", "huge_user_id", "inexact_number", "deep_200", "deep_40"],
)
async def test_absurd_claims_in_a_signed_jwt_are_a_401(
    auth_bridge: AuthBridge, keys: Keys, absurd: dict[str, Any]
) -> None:
    bridge = await auth_bridge()
    reply = await call(bridge, "JWT " + sign_jwt(jet_claims(**absurd), keys.trusted))
    assert_error(reply, 401, "claims are too large or too deep")
    # The bridge carries on with sane tokens.
    assert (await call(bridge, "JWT " + sign_jwt(jet_claims(), keys.trusted))).status == 200
