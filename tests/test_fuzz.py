"""Fuzzing the endpoint with hypothesis: whatever a client sends, never a 500, never a crash.

The bridge runs in the test's event loop, in front of the example shop; hypothesis runs in a
worker thread and calls it over real HTTP with a blocking client, so the loop stays free to
serve. Every answer must be below 500 and, unless it is a success, JSON with a `detail`; the
bridge must log no unhandled exception and keep serving afterwards.

Nesting is kept shallow here: params nested deeper than protobuf decodes have their own
(expected-to-fail) test in test_http_faults.py.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import socket
import string
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import (
    ActionServerProcess,
    Bridge,
    BridgeFactory,
    public_pem,
    refusing_jet_api,
    service,
)

HOST = "127.0.0.1"
BEARER_KEY = "a-bearer-key-of-some-length"
FUZZ_SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)

# --- strategies ----------------------------------------------------------------------------

json_leaves = (
    st.none()
    | st.booleans()
    # Beyond 64 bits too: the parser reads such numbers as floats.
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    json_leaves,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=8,
)

MESSAGE_NAMES = ["get_action_list", "execute_action", "get_field_options", "get_element_status"]
# The shop's inputs, so that generated messages reach real handlers.
INPUTS = ["subject", "body", "urgent", "amount", "carrier", "country", "city", "ids", "id"]
INPUT_VALUES = st.sampled_from(["1", "-5", "2.50", "dhl", "italy", "rome", "1,2", ""])

MODELS = ["users", "orders", "invoices"]
record_ids = (
    st.integers(min_value=-3, max_value=8)
    | st.text(max_size=6)
    | st.floats(allow_nan=False, allow_infinity=False)
)
id_lists = (
    st.lists(record_ids, max_size=4) | st.text(alphabet="0123456789, ", max_size=10) | json_values
)
form_inputs = st.dictionaries(
    st.sampled_from(INPUTS) | st.text(max_size=6),
    INPUT_VALUES | st.integers(min_value=-3, max_value=8) | st.booleans() | json_values,
    max_size=5,
)


def maybe_encoded(objects: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """An object, sometimes as a JSON string (the reference server accepts both)."""
    return objects | objects.map(json.dumps)


# Messages shaped as Jet sends them, with inputs that the shop's handlers accept or refuse...
texts = st.text(max_size=12)
shop_forms = {
    "mail_users": st.fixed_dictionaries(
        {"subject": texts}, optional={"body": texts, "urgent": st.booleans()}
    ),
    "adjust_wallet": st.fixed_dictionaries(
        {"amount": st.decimals(allow_nan=False, allow_infinity=False).map(str) | json_leaves}
    ),
    "ship_order": st.fixed_dictionaries(
        {
            "carrier": st.sampled_from(["dhl", "ups", "fedex"]),
            "country": st.sampled_from(["italy", "uk", "mars"]),
            "city": st.sampled_from(["rome", "leeds", "paris"]),
        }
    ),
    "export_users": st.just({}),
    "refresh_stats": st.just({}),
}
execute_params = st.one_of(
    *(
        st.fixed_dictionaries(
            {"name": st.just(action), "params": maybe_encoded(form | form_inputs)},
            optional={
                "model": st.sampled_from(MODELS),
                "id": record_ids,
                "ids": id_lists,
                "inverseIds": st.booleans(),
                "futureKey": json_values,
            },
        )
        for action, form in shop_forms.items()
    )
)
field_options_params = st.fixed_dictionaries(
    {"field": st.sampled_from(["city", "country", "carrier"])},
    optional={"model": st.sampled_from(MODELS), "form": maybe_encoded(form_inputs)},
)
jet_messages = (
    st.fixed_dictionaries(
        {"name": st.just("execute_action"), "params": maybe_encoded(execute_params)}
    )
    | st.fixed_dictionaries(
        {"name": st.just("get_field_options"), "params": maybe_encoded(field_options_params)}
    )
    | st.fixed_dictionaries(
        {"name": st.sampled_from(["get_action_list", "get_element_status"])},
        optional={"params": maybe_encoded(form_inputs)},
    )
)
# ...and messages with any key holding any value.
any_params = st.fixed_dictionaries(
    {},
    optional=dict.fromkeys(
        ["name", "model", "id", "ids", "inverseIds", "inverse_ids", "params", "field"], json_values
    ),
)
odd_messages = st.fixed_dictionaries(
    {},
    optional={
        "name": st.sampled_from(MESSAGE_NAMES) | json_values,
        "params": maybe_encoded(any_params) | json_values,
        "extra": json_values,
    },
)
messages = jet_messages | odd_messages


@st.composite
def json_bodies(draw: st.DrawFn, values: st.SearchStrategy[Any]) -> bytes:
    """JSON text of a drawn value, escaped to ASCII or raw UTF-8 (lone surrogates included)."""
    value = draw(values)
    if draw(st.booleans()):
        return json.dumps(value).encode()
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


header_text = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=255, exclude_characters="\x7f"),
    max_size=30,
)
content_types = (
    st.sampled_from(
        [
            "application/json",
            "application/json;charset=utf-8",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/json; charset=latin-1",
        ]
    )
    | header_text
)
paths = st.sampled_from(["/api/messages/", "/api/messages", "/", "/api/", "/api/messages/x"]) | (
    st.text(alphabet=string.ascii_letters + string.digits + "/-._~%?=&", max_size=20).map(
        lambda path: "/" + path
    )
)
methods = st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
# ASCII only: bytes that are not UTF-8 have their own (expected-to-fail) test in
# test_http_faults.py.
ascii_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
credentials = st.builds(
    "{}{}{}".format,
    st.sampled_from(["JWT ", "Token ", "ProjectToken ", "Bearer ", "jwt ", "BEARER ", "", " "]),
    ascii_text,
    st.sampled_from(["", ";project_child=x", ";=", ";a=b;c", ","]),
)
authorizations = st.lists(credentials, min_size=1, max_size=3).map(", ".join) | ascii_text


# --- the checks --------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    disposition: str | None
    body: bytes


def call(
    port: int,
    body: bytes,
    content_type: str | None,
    method: str = "POST",
    path: str = "",
    authorization: str | None = None,
) -> Answer:
    """One blocking request on a new connection."""
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        headers = {} if content_type is None else {"Content-Type": content_type}
        if authorization is not None:
            headers["Authorization"] = authorization
        connection.request(method, path or "/api/messages/", body=body, headers=headers)
        response = connection.getresponse()
        return Answer(
            response.status,
            response.getheader("Content-Type", ""),
            response.getheader("Content-Disposition"),
            response.read(),
        )
    finally:
        connection.close()


def check(answer: Answer) -> None:
    """Never a server error; every error is JSON with a human `detail`."""
    assert answer.status < 500, (answer.status, answer.body[:500])
    if answer.status == 204:  # OPTIONS on the endpoint
        assert answer.body == b""
        return
    if answer.disposition is not None:
        assert answer.status == 200
        assert answer.disposition.startswith("attachment; filename=")
        return
    assert answer.content_type.startswith("application/json"), answer
    data = orjson.loads(answer.body)
    if answer.status >= 400:
        assert isinstance(data, dict), data
        assert isinstance(data["detail"], str), data
        assert data["detail"], data


async def fuzz(
    bridge: Bridge,
    caplog: pytest.LogCaptureFixture,
    examples: Callable[[int], None],
    authorization: str = "",
) -> None:
    """Run the hypothesis test `examples` against the bridge from a worker thread, then check
    that the bridge logged no unhandled exception and still serves."""
    caplog.set_level(logging.ERROR, logger="jetbridge")
    port = bridge.server.port
    assert port is not None
    await asyncio.to_thread(examples, port)
    unhandled = [r.getMessage() for r in caplog.records if r.exc_info is not None]
    assert unhandled == []
    reply = await bridge.post(
        json={"name": "execute_action", "params": {"name": "refresh_stats"}},
        headers={"Authorization": authorization} if authorization else None,
    )
    assert (reply.status, reply.json()) == (200, {"result": True})


@pytest.fixture
async def bridge(make_bridge: BridgeFactory, shop: ActionServerProcess) -> Bridge:
    return await make_bridge(service("shop", shop))


# --- the fuzz tests ----------------------------------------------------------------------


async def test_generated_messages(bridge: Bridge, caplog: pytest.LogCaptureFixture) -> None:
    @FUZZ_SETTINGS
    @given(body=json_bodies(messages))
    def examples(port: int, body: bytes) -> None:
        check(call(port, body, "application/json"))

    await fuzz(bridge, caplog, examples)


async def test_arbitrary_json(bridge: Bridge, caplog: pytest.LogCaptureFixture) -> None:
    @FUZZ_SETTINGS
    @given(body=json_bodies(json_values))
    def examples(port: int, body: bytes) -> None:
        check(call(port, body, "application/json;charset=utf-8"))

    await fuzz(bridge, caplog, examples)


async def test_random_bytes_and_content_types(
    bridge: Bridge, caplog: pytest.LogCaptureFixture
) -> None:
    @FUZZ_SETTINGS
    @given(
        body=st.binary(max_size=200) | json_bodies(messages).map(lambda b: b[: len(b) // 2]),
        content_type=st.none() | content_types,
    )
    def examples(port: int, body: bytes, content_type: str | None) -> None:
        check(call(port, body, content_type))

    await fuzz(bridge, caplog, examples)


async def test_random_methods_and_paths(bridge: Bridge, caplog: pytest.LogCaptureFixture) -> None:
    @FUZZ_SETTINGS
    @given(method=methods, path=paths, body=json_bodies(messages))
    def examples(port: int, method: str, path: str, body: bytes) -> None:
        check(call(port, body, "application/json", method, path))

    await fuzz(bridge, caplog, examples)


async def test_random_authorization_headers(
    make_bridge: BridgeFactory, shop: ActionServerProcess, caplog: pytest.LogCaptureFixture
) -> None:
    """Every scheme enabled; no header value gets past authentication or causes a 5xx."""
    jet_api = await refusing_jet_api()
    try:
        bridge = await make_bridge(
            service("shop", shop),
            disable_auth=False,
            project="proj",
            token="project-token",
            bearer_auth_key=(BEARER_KEY,),
            api_base_url=str(jet_api.make_url("/api")),
        )

        @FUZZ_SETTINGS
        @given(authorization=authorizations, body=json_bodies(jet_messages))
        def examples(port: int, authorization: str, body: bytes) -> None:
            answer = call(port, body, "application/json", authorization=authorization)
            assert answer.status in {401, 403}, (answer.status, answer.body)
            check(answer)
            assert orjson.loads(answer.body)["code"] in {"UNAUTHENTICATED", "PERMISSION_DENIED"}

        await fuzz(bridge, caplog, examples, f"Bearer {BEARER_KEY}")
    finally:
        await jet_api.close()


# --- header bytes, huge numbers and absurd claims -----------------------------------------

SECRET = "Bearer fuzz-secret-credential"
# Bytes a header line may hold, including what aiohttp's parser refuses (controls, bare CR or
# LF, DEL, obs-fold whitespace) and what it accepts.
header_bytes = st.binary(max_size=40) | st.text(
    alphabet=st.characters(codec="latin-1"), max_size=40
).map(lambda text: text.encode("latin-1"))
header_names = st.sampled_from([b"X-Test", b"Authorization ", b" X-Fold", b"X\x01Y", b"Accept"])


def raw_call(port: int, request: bytes) -> Answer:
    """Send raw bytes on a new connection and parse the one answer."""
    with socket.create_connection((HOST, port), timeout=30) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return Answer(
        int(lines[0].split()[1]),
        headers.get("Content-Type", ""),
        headers.get("Content-Disposition"),
        body,
    )


async def test_header_lines_with_any_bytes(
    bridge: Bridge, caplog: pytest.LogCaptureFixture
) -> None:
    @FUZZ_SETTINGS
    @given(name=header_names, value=header_bytes, body=json_bodies(messages))
    def examples(port: int, name: bytes, value: bytes, body: bytes) -> None:
        request = (
            b"POST /api/messages/ HTTP/1.1\r\nHost: b\r\nConnection: close\r\nAuthorization: "
            + SECRET.encode()
            + b"\r\n"
            + name
            + b": "
            + value
            + b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
            + body
        )
        answer = raw_call(port, request)
        check(answer)
        assert SECRET.encode() not in answer.body

    caplog.set_level(logging.DEBUG, logger="jetbridge")
    await fuzz(bridge, caplog, examples)
    assert SECRET not in caplog.text


huge_numbers = st.integers(min_value=16, max_value=5000).map(lambda digits: "9" * digits) | (
    st.integers(min_value=54, max_value=1100).map(lambda bits: str(2**bits))
)


async def test_huge_numbers_anywhere(bridge: Bridge, caplog: pytest.LogCaptureFixture) -> None:
    @FUZZ_SETTINGS
    @given(
        number=huge_numbers,
        sign=st.sampled_from(["", "-"]),
        place=st.sampled_from(["id", "ids", "input", "form", "extra"]),
    )
    def examples(port: int, number: str, sign: str, place: str) -> None:
        value = sign + number
        params = {
            "id": f'"model":"users","name":"mail_users","id":{value}',
            "ids": f'"model":"users","name":"mail_users","ids":[1,{value}]',
            "input": f'"name":"adjust_wallet","id":1,"params":{{"amount":{value}}}',
            "form": f'"model":"orders","field":"city","form":{{"country":{value}}}',
            "extra": f'"name":"refresh_stats","x":{{"y":{value}}}',
        }[place]
        name = "get_field_options" if place == "form" else "execute_action"
        body = f'{{"name":"{name}","params":{{{params}}}}}'.encode()
        answer = call(port, body, "application/json")
        check(answer)
        assert answer.status == 400, answer.body

    await fuzz(bridge, caplog, examples)


claim_values = st.recursive(
    st.none() | st.booleans() | st.text(max_size=8) | st.integers(-(2**70), 2**70),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=40,
)


def deep(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


async def test_signed_jwts_with_any_claims(
    make_bridge: BridgeFactory, shop: ActionServerProcess, caplog: pytest.LogCaptureFixture
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    bridge = await make_bridge(
        service("shop", shop), disable_auth=False, project="proj", jwt_verify_key=public_pem(key)
    )
    base = {"projects": {"proj": {}}, "exp": int(time.time()) + 600}

    @FUZZ_SETTINGS
    @given(
        extra=st.dictionaries(st.text(max_size=6), claim_values, max_size=4),
        depth=st.sampled_from([0, 10, 40, 200]),
        exp=st.sampled_from([None, 10**400, -(10**30), "soon", 1e300]),
    )
    def examples(port: int, extra: dict[str, Any], depth: int, exp: Any) -> None:
        payload = {**extra, **base, "nested": deep(depth)}
        if exp is not None:
            payload["exp"] = exp
        token = jwt.encode(payload, key, algorithm="RS256")
        body = orjson.dumps({"name": "execute_action", "params": {"name": "refresh_stats"}})
        answer = call(port, body, "application/json", authorization=f"JWT {token}")
        check(answer)
        assert answer.status in {200, 401, 403}, answer.body

    token = jwt.encode(base, key, algorithm="RS256")
    await fuzz(bridge, caplog, examples, f"JWT {token}")
