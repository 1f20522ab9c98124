"""The bridge's optimised paths give what the straightforward paths give, on many inputs.

- Jet params → gRPC requests (hand-written Struct building) vs `json_format.ParseDict` and a
  plain restatement of the id rules;
- gRPC responses → Jet JSON (hand-written conversion) vs `json_format.MessageToDict`;
- get_action_list's body, rendered once per catalog change, vs rendering it afresh;
- accepted credentials served from the per-header cache vs an authenticator that checks afresh;
- a body read without a timer (it came whole with the headers) vs one read in chunks;
- params' depth checked only when the body holds enough brackets vs always walked;
- access-log values rendered once and remembered vs rendered every time;
- a single-process bridge's per-request metrics as plain numbers vs prometheus-client's own;
- gRPC's older client I/O path is chosen only where it can be (before grpc is imported);
- with the collector tuned for serving, cyclic garbage is still collected, as with the defaults.

No timing is asserted anywhere: speed is bench/'s business, these only pin down correctness.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any, TypeVar, cast

import jwt
import orjson
import pytest
from aiohttp.test_utils import make_mocked_request
from cryptography.hazmat.primitives.asymmetric import rsa
from google.protobuf import json_format, struct_pb2
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest

from jetactions.v1 import actions_pb2
from jetbridge import access_log, metrics, render
from jetbridge.app import DISCOVERY
from jetbridge.auth import Authenticator
from jetbridge.catalog import Catalog, listing_item
from jetbridge.config import Auth, ServiceConfig
from jetbridge.convert import too_deep
from jetbridge.credentials import digest as _digest
from jetbridge.errors import BridgeError
from jetbridge.messages import MAX_DEPTH, execute_request, field_options_request, parse_message
from jetbridge.services import Service
from tests.support import SHOP, BridgeFactory, public_pem

# --- JSON as Jet sends it ----------------------------------------------------------------------

text = st.text(max_size=12)
scalars = (
    st.none()
    | st.booleans()
    | text
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(min_value=-(2.0**53), max_value=2.0**53)
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
    max_leaves=20,
)
json_objects = st.dictionaries(text, json_values, max_size=5)
record_ids = st.integers(min_value=-(2**53), max_value=2**53) | st.text(
    alphabet="abcdef0123456789-", min_size=1, max_size=12
)
id_forms: st.SearchStrategy[dict[str, Any]] = st.one_of(
    st.just({}),
    st.lists(record_ids, max_size=5).map(lambda ids: {"ids": ids}),
    record_ids.map(lambda one: {"id": one}),
    st.lists(record_ids, min_size=1, max_size=5).map(
        lambda ids: {"ids": ", ".join(str(item) for item in ids)}
    ),
)


M = TypeVar("M", bound=Message)


def parse_json(value: Any, message: M) -> M:
    """json_format's reading of any JSON value (ParseDict is typed for objects only)."""
    return json_format.Parse(orjson.dumps(value), message)


@st.composite
def execute_params(draw: st.DrawFn) -> dict[str, Any]:
    """execute_action params in every shape PROTOCOL.md allows, with unknown keys."""
    inputs = draw(json_objects)
    nested_ids = draw(id_forms)
    inputs.pop("ids", None)
    inputs.pop("id", None)
    inputs.update(nested_ids)
    params: dict[str, Any] = {
        "name": draw(st.text(min_size=1, max_size=12)),
        "params": inputs,
        **draw(st.dictionaries(st.sampled_from(["extra", "search", "page"]), json_values)),
    }
    params.update(draw(id_forms))
    if draw(st.booleans()):
        params["model"] = draw(text)
    if draw(st.booleans()):
        params["inverseIds"] = draw(st.booleans())
    return params


def plain_ids(params: dict[str, Any]) -> list[Any]:
    """The id rule, restated plainly: top level first, then the form; `ids` before `id`."""
    for source in (params, params.get("params") or {}):
        if source.get("ids") is not None:
            ids = source["ids"]
            if isinstance(ids, str):
                return [part.strip() for part in ids.split(",") if part.strip()]
            return list(ids)
        if source.get("id") is not None:
            return [source["id"]]
    return []


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(execute_params())
def test_execute_request_matches_json_format(params: dict[str, Any]) -> None:
    request = execute_request(params)
    assert request.action == params["name"]
    assert request.model == params.get("model", "")
    assert request.inverse_ids == params.get("inverseIds", False)
    ids = parse_json(plain_ids(params), struct_pb2.ListValue())
    assert list(request.ids) == list(ids.values)
    assert request.inputs == json_format.ParseDict(params["params"], struct_pb2.Struct())
    assert request.message_params == json_format.ParseDict(params, struct_pb2.Struct())
    # What the action server decodes is what Jet sent.
    assert json_format.MessageToDict(request.message_params) == params


@settings(max_examples=200)
@given(text, st.text(min_size=1, max_size=12), json_objects, json_objects)
def test_field_options_request_matches_json_format(
    model: str, field: str, form: dict[str, Any], extra: dict[str, Any]
) -> None:
    params = {**extra, "model": model, "field": field, "form": form}
    request = field_options_request(params)
    assert (request.model, request.field) == (model, field)
    assert request.form == json_format.ParseDict(form, struct_pb2.Struct())
    assert request.message_params == json_format.ParseDict(params, struct_pb2.Struct())


# --- responses -----------------------------------------------------------------------------------


@st.composite
def results(draw: st.DrawFn) -> actions_pb2.ExecuteActionResponse:
    response = actions_pb2.ExecuteActionResponse()
    result = response.result
    result.SetInParent()
    if draw(st.booleans()):
        parse_json(draw(json_values), result.value)
    if draw(st.booleans()):
        result.message = draw(text)
    if draw(st.booleans()):
        result.html = draw(text)
    extra = draw(
        st.dictionaries(
            text.filter(lambda k: k not in {"result", "message", "html"}), json_values, max_size=4
        )
    )
    json_format.ParseDict(extra, result.extra)
    return response


def plain_result(response: actions_pb2.ExecuteActionResponse) -> dict[str, Any]:
    """The result object, rendered through json_format."""
    result = response.result
    body: dict[str, Any] = json_format.MessageToDict(result.extra)
    body["result"] = json_format.MessageToDict(result.value) if result.HasField("value") else True
    if result.HasField("message"):
        body["message"] = result.message
    if result.HasField("html"):
        body["html"] = result.html
    return body


def same_json(a: Any, b: Any) -> bool:
    """Equal as JSON: json_format reads every number as a float, the bridge keeps integers."""
    return bool(orjson.loads(orjson.dumps(a)) == orjson.loads(orjson.dumps(b)))


@settings(max_examples=300)
@given(results())
def test_execute_result_matches_json_format(response: actions_pb2.ExecuteActionResponse) -> None:
    status, body = cast(tuple[int, dict[str, Any]], render.execute_result(response))
    assert status == 200
    assert same_json(body, plain_result(response))


@settings(max_examples=200)
@given(st.lists(st.tuples(json_values, text, text), max_size=6))
def test_field_options_match_json_format(options: list[tuple[Any, str, str]]) -> None:
    response = actions_pb2.GetFieldOptionsResponse()
    for value, name, color in options:
        option = response.options.add(name=name, color=color)
        parse_json(value, option.value)
    expected = [
        {
            "value": json_format.MessageToDict(option.value),
            "name": option.name,
            **({"color": option.color} if option.color else {}),
        }
        for option in response.options
    ]
    assert same_json(render.field_options(response), expected)


# --- the cached action list ---------------------------------------------------------------------

field_types = st.sampled_from(list(actions_pb2.FieldType.values()))


@st.composite
def actions(draw: st.DrawFn, name: str) -> actions_pb2.Action:
    action = actions_pb2.Action(name=name, label=draw(text), icon=draw(text))
    if draw(st.booleans()):
        models = draw(st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=3))
        action.model_action.models.extend(models)
        action.model_action.for_instance = draw(st.booleans())
        action.model_action.bulk = draw(st.booleans())
    else:
        action.common_action.SetInParent()
    for index in range(draw(st.integers(0, 3))):
        param = action.params.add(
            name=f"p{index}", field=draw(field_types), required=draw(st.booleans())
        )
        param.label = draw(text)
        if draw(st.booleans()):
            parse_json(draw(json_values), param.default_value)
        for value, option_name in draw(st.lists(st.tuples(json_values, text), max_size=3)):
            option = param.options.add(name=option_name)
            parse_json(value, option.value)
        param.options_from_server = draw(st.booleans())
        param.related_model = draw(text)
        json_format.ParseDict(draw(json_objects), param.extra)
    return action


@st.composite
def listings(draw: st.DrawFn) -> list[actions_pb2.ListActionsResponse]:
    """Two or three services' listings; some action names clash (the first service wins)."""
    names = st.sampled_from(["a", "b", "c", "d", "e"])
    found = []
    for _ in range(draw(st.integers(1, 3))):
        listing = actions_pb2.ListActionsResponse()
        for name in draw(st.lists(names, unique=True, max_size=4)):
            listing.actions.append(draw(actions(name)))
        found.append(listing)
    return found


class _Listed:
    """What Catalog.build reads of a Service."""

    def __init__(self, name: str, listing: actions_pb2.ListActionsResponse) -> None:
        self.name = name
        self.listing = listing


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(listings())
def test_cached_action_list_body_is_a_fresh_rendering(
    found: list[actions_pb2.ListActionsResponse],
) -> None:
    services = [_Listed(f"s{index}", listing) for index, listing in enumerate(found)]
    catalog = Catalog.build(cast(list[Service], services))
    winners: dict[str, actions_pb2.Action] = {}
    served_by: dict[str, str] = {}
    for service in services:
        for action in service.listing.actions:
            winners.setdefault(action.name, action)
            served_by.setdefault(action.name, service.name)
    listed = orjson.loads(catalog.action_list_body)
    # The console's extra key names the winner; the rest is render.action's, byte for byte.
    assert [item.pop("jetbridge")["service"] for item in listed] == list(served_by.values())
    fresh = orjson.dumps([render.action(action) for action in winners.values()])
    assert orjson.dumps(listed) == fresh
    # And it is what json_format sees in the protos, field for field.
    for item, action in zip(orjson.loads(catalog.action_list_body), winners.values(), strict=True):
        plain = json_format.MessageToDict(action, preserving_proto_field_name=True)
        assert item["name"] == plain["name"]
        assert [p["name"] for p in item.get("params", [])] == [
            p["name"] for p in plain.get("params", [])
        ]
        for rendered, param in zip(item.get("params", []), action.params, strict=True):
            if param.HasField("default_value"):
                assert same_json(
                    rendered["default_value"], json_format.MessageToDict(param.default_value)
                )


async def test_served_action_list_follows_the_catalog(make_bridge: BridgeFactory) -> None:
    bridge = await make_bridge(
        ServiceConfig(name="shop", target=f"inprocess:{SHOP}:build_app", timeout=5)
    )
    reply = await bridge.send("get_action_list")
    catalog = bridge.server.app[DISCOVERY].catalog
    expected = [listing_item(route, catalog.conflicts) for route in catalog.actions.values()]
    assert reply.body == orjson.dumps(expected)


# --- authentication ------------------------------------------------------------------------------

PROJECT = "fastpaths"
BEARER = "bearer-key-fastpaths-0123456789"


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def auth_settings(key: rsa.RSAPrivateKey, **changes: Any) -> Auth:
    return Auth(project=PROJECT, jwt_verify_key=public_pem(key), bearer_keys=(BEARER,), **changes)


def token(key: rsa.RSAPrivateKey, **claims: Any) -> str:
    payload = {
        "user": {"id": 7, "email": "x@example.com"},
        "projects": {PROJECT: {"group": "admin"}},
        "exp": int(time.time()) + 3600,
        **claims,
    }
    return jwt.encode(payload, key, algorithm="RS256")


async def outcome(auth: Authenticator, header: str | None) -> Any:
    headers = {} if header is None else {"Authorization": header}
    request = make_mocked_request("POST", "/api/messages/", headers=headers)
    try:
        caller = await auth.authenticate(request)
    except BridgeError as error:
        return ("error", error.status, error.detail)
    return ("caller", caller.SerializeToString(deterministic=True))


@pytest.fixture(scope="module")
def headers(signing_key: rsa.RSAPrivateKey) -> list[str]:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    good = token(signing_key)
    return [
        f"Bearer {BEARER}",
        f"bearer   {BEARER}",
        "Bearer wrong-key",
        f"JWT {good}",
        f"jwt {good};project_child=x",
        f"Bearer {BEARER}, JWT {good}",
        f"JWT {token(signing_key, projects={'elsewhere': {}})}",
        f"JWT {token(signing_key, exp=int(time.time()) - 3600)}",
        f"JWT {token(other)}",
        f"JWT {good[:-4]}",
        "JWT not-a-token",
        "Basic dXNlcjpwYXNz",
        "",
        "   ",
    ]


settings_for_hypothesis = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@pytest.mark.parametrize("forward_token", [False, True])
def test_header_cache_answers_like_a_fresh_check(
    signing_key: rsa.RSAPrivateKey, headers: list[str], forward_token: bool
) -> None:
    config = auth_settings(signing_key, forward_token=forward_token)

    @settings_for_hypothesis
    @given(st.lists(st.sampled_from([*headers, None]), min_size=1, max_size=12))
    def check(sequence: list[str | None]) -> None:
        async def run() -> None:
            cached = Authenticator(config)
            for header in sequence:
                expected = await outcome(Authenticator(config), header)
                assert await outcome(cached, header) == expected
                # Whatever the cache handed out is unchanged by the request that used it.
                assert await outcome(cached, header) == expected

        asyncio.run(run())

    check()


async def test_header_cache_never_outlives_the_jwt(signing_key: rsa.RSAPrivateKey) -> None:
    auth = Authenticator(auth_settings(signing_key, jwt_leeway=2.0, cache_ttl=3600))
    exp = int(time.time()) + 30
    header = f"JWT {token(signing_key, exp=exp)}"
    assert (await outcome(auth, header))[0] == "caller"
    remaining = auth._accepted.ttl(_digest(header))
    assert 0 < remaining <= exp + 2.0 - time.time() + 0.01


async def test_header_cache_respects_a_zero_ttl(signing_key: rsa.RSAPrivateKey) -> None:
    auth = Authenticator(auth_settings(signing_key, cache_ttl=0))
    assert (await outcome(auth, f"Bearer {BEARER}"))[0] == "caller"
    assert len(auth._accepted) == 0


async def test_shared_caller_is_not_changed_by_routing(signing_key: rsa.RSAPrivateKey) -> None:
    """The router copies the shared Caller into each request; the cached one stays as it was."""
    auth = Authenticator(auth_settings(signing_key))
    header = f"JWT {token(signing_key)}"
    request = make_mocked_request("POST", "/", headers={"Authorization": header})
    first = await auth.authenticate(request)
    snapshot = first.SerializeToString(deterministic=True)
    grpc_request = execute_request({"name": "x"})
    grpc_request.caller.CopyFrom(first)
    grpc_request.caller.user_id = "changed"
    again = await auth.authenticate(request)
    assert again.SerializeToString(deterministic=True) == snapshot


# --- reading the body ----------------------------------------------------------------------------


async def test_body_read_whole_or_in_chunks_gives_the_same_answer(
    make_bridge: BridgeFactory,
) -> None:
    bridge = await make_bridge(
        ServiceConfig(name="shop", target=f"inprocess:{SHOP}:build_app", timeout=5)
    )
    bodies = [
        b'{"name":"get_action_list"}',
        orjson.dumps(
            {
                "name": "execute_action",
                "params": {
                    "model": "users",
                    "name": "mail_users",
                    "ids": [1, 2],
                    "params": {"subject": "Hi " * 2000},
                },
            }
        ),
        b'{"name": "execute_action", "params": {"name": "nope"}}',
        b"{not json",
    ]
    for body in bodies:
        whole = await bridge.post(data=body, headers={"Content-Type": "application/json"})

        async def chunks(data: bytes = body) -> AsyncIterator[bytes]:
            for start in range(0, len(data), 7):
                await asyncio.sleep(0)
                yield data[start : start + 7]

        chunked = await bridge.post(data=chunks(), headers={"Content-Type": "application/json"})
        assert (chunked.status, chunked.json()) == (whole.status, whole.json())


# --- gRPC's I/O path ---------------------------------------------------------------------------


ENTRY = "from jetbridge._entry import prefer_older_grpc_io_path as p; p()"


@pytest.mark.parametrize(
    ("code", "environ", "expected"),
    [
        (ENTRY, {}, "-event_engine_client,-event_engine_callback_cq"),
        (f"import grpc; {ENTRY}", {}, None),
        (ENTRY, {"GRPC_EXPERIMENTS": ""}, ""),
        (ENTRY, {"GRPC_EXPERIMENTS": "-x"}, "-x"),
        ("import jetbridge, jetbridge.app, jetbridge.cli", {}, None),
    ],
    ids=["command-first", "grpc-already-imported", "explicitly-empty", "explicit", "import"],
)
def test_grpc_io_path_is_chosen_only_by_the_command_before_grpc_loads(
    code: str, environ: dict[str, str], expected: str | None
) -> None:
    env = {key: value for key, value in os.environ.items() if key != "GRPC_EXPERIMENTS"}
    script = f"{code}; import os; print(repr(os.environ.get('GRPC_EXPERIMENTS')))"
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**env, **environ},
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == repr(expected)


_GC_SCRIPT = """
import gc, sys, weakref
from jetbridge.server import tune_gc

class Node:
    pass

def cycles(count):
    refs = []
    for _ in range(count):
        node = Node()
        node.self = node  # only the collector can free it
        refs.append(weakref.ref(node))
    return refs

early = cycles(1000)  # garbage left by start-up
if sys.argv[1] == "tuned":
    tune_gc()
late = cycles(100_000)
alive = lambda refs: sum(ref() is not None for ref in refs)
unprompted = alive(late)
gc.collect()
print(alive(early), unprompted < len(late), alive(late))
"""


@pytest.mark.parametrize("mode", ["tuned", "default"])
def test_tuned_collector_still_collects_cycles(mode: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _GC_SCRIPT, mode], capture_output=True, text=True, check=True
    )
    # Start-up's garbage goes before the freeze; later cycles are collected without being
    # asked (the threshold is reached), and all of them by a full collection.
    assert done.stdout.split() == ["0", "True", "0"]


def _nested(depth: int, shape: list[bool], leaf: Any) -> Any:
    value = leaf
    for level in range(depth):
        value = {"k": value} if shape[level % len(shape)] else [value]
    return value


@settings(max_examples=300)
@given(
    st.integers(min_value=0, max_value=MAX_DEPTH + 3),
    st.lists(st.booleans(), min_size=1, max_size=5),
    json_values,
    st.sampled_from(["object", "string", "escaped string"]),
)
def test_depth_check_from_the_brackets_decides_as_walking_the_params(
    depth: int, shape: list[bool], leaf: Any, form: str
) -> None:
    params = {"name": "a", "params": _nested(depth, shape, leaf)}
    if form == "object":
        body = orjson.dumps({"name": "execute_action", "params": params})
    else:
        text = orjson.dumps(params).decode().replace("\\", "\\\\").replace('"', '\\"')
        if form == "escaped string":  # brackets the body does not show as brackets
            text = text.replace("{", "\\u007b").replace("[", "\\u005b")
        body = b'{"name": "execute_action", "params": "' + text.encode() + b'"}'
    if too_deep(params, MAX_DEPTH):
        with pytest.raises(BridgeError, match=f"nested more than {MAX_DEPTH} levels deep"):
            parse_message(body)
    else:
        assert parse_message(body).params == params


@settings(max_examples=500)
@given(st.text(max_size=150) | st.sampled_from(["POST", "/api/messages/", "execute_action"]))
def test_remembered_access_log_values_are_rendered_afresh(value: str) -> None:
    assert access_log._value(value) == access_log._render(value)
    assert access_log._value(value) == access_log._render(value)  # now from the memo, if kept


def test_access_log_memo_stays_bounded() -> None:
    for index in range(2 * access_log._MAX_RENDERED):
        value = f"made-up name {index}"
        assert access_log._value(value) == access_log._render(value)
    assert len(access_log._rendered) <= access_log._MAX_RENDERED


_labels = st.sampled_from(["execute_action", "get_action_list", "_unknown", "mail_users", ""])
_seconds = st.floats(min_value=-1, max_value=100, allow_nan=False) | st.sampled_from(
    list(metrics.BUCKETS)
)
_operations = st.lists(
    st.one_of(
        st.tuples(st.just("request"), _labels, _labels, st.sampled_from([200, 400]), _seconds),
        st.tuples(st.just("call"), _labels, _labels, st.sampled_from(["OK", "UNKNOWN"]), _seconds),
        st.tuples(st.just("authenticated"), _labels, _labels),
        st.tuples(st.just("refused"), _labels),
        st.tuples(st.just("active"), st.sampled_from([1, -1])),
    ),
    max_size=40,
)


def _exposition(registry: CollectorRegistry) -> str:
    text = generate_latest(registry).decode()
    return re.sub(r"(_created\{[^}]*\}) \S+", r"\1 T", text)  # when each series began


@settings(max_examples=200)
@given(_operations)
def test_plain_request_metrics_read_as_prometheus_clients(operations: list[Any]) -> None:
    plain = metrics.Metrics(CollectorRegistry())
    reference = metrics.Metrics(CollectorRegistry(), multiprocess=True)  # prometheus-client's
    for recorder in (plain, reference):
        for name, *args in operations:
            if name == "active":
                (recorder.active.inc if args[0] > 0 else recorder.active.dec)()
            else:
                getattr(recorder, name)(*args)
        recorder.discovered("shop", True, 5, 5)
    assert _exposition(plain.registry) == _exposition(reference.registry)
