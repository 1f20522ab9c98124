"""openapi.yaml: it matches the code, and schemathesis finds a real bridge conforming to it.

The bridge runs as its own process (`python -m jetbridge serve --disable-auth`) in front of the
example shop; schemathesis generates requests from the description (its examples, valid and
invalid messages) and checks every answer: never a 5xx, a documented status, a documented
content type and a body matching the documented schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from jetactions.v1 import actions_pb2
from jetbridge.app import MESSAGES_PATH, create_app
from jetbridge.config import ServiceConfig, Settings
from jetbridge.errors import HTTP_STATUS_BY_GRPC_CODE
from jetbridge.messages import (
    EXECUTE_ACTION,
    GET_ACTION_LIST,
    GET_ELEMENT_STATUS,
    GET_FIELD_OPTIONS,
)
from jetbridge.render import field_name
from jetbridge.services import ServiceState
from tests.support import ROOT, ActionServerProcess, BridgeProcess, bridge_process, wait_ready

SPEC_PATH = ROOT / "openapi.yaml"
CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {"max-examples": 150},
        "phases": {"stateful": {"enabled": False}},
    }
)
SCHEMA = schemathesis.openapi.from_path(SPEC_PATH, config=CONFIG)
SPEC: dict[str, Any] = SCHEMA.raw_schema
SCHEMAS: dict[str, Any] = SPEC["components"]["schemas"]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


def test_the_description_is_valid_openapi_3_1() -> None:
    assert SPEC["openapi"].startswith("3.1")
    # Loading resolves every $ref; a dangling one fails here.
    labels = set()
    for result in SCHEMA.get_all_operations():
        assert isinstance(result, Ok), result
        labels.add(result.ok().label)
    assert labels == {
        "POST /api/messages/",
        "OPTIONS /api/messages/",
        "GET /api/messages/",
        "GET /",
        "GET /healthz",
        "GET /readyz",
    }


def test_every_route_of_the_app_is_described() -> None:
    app = create_app(Settings(services=(ServiceConfig(name="s", target="x:1", timeout=1),)))
    routes = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    }
    described = {
        (method.upper(), path)
        for path, item in SPEC["paths"].items()
        for method in item
        if method != "get" or path != MESSAGES_PATH  # the 405 example, not a route
    }
    # `/api/messages` without the slash is the same endpoint (said in info.description).
    aliases = {(method, MESSAGES_PATH.rstrip("/")) for method in ("POST", "OPTIONS")}
    assert routes - aliases == described
    assert "`/api/messages` (without the trailing slash)" in SPEC["info"]["description"]


def test_every_message_name_is_in_the_request_schema() -> None:
    mapping = SCHEMAS["Message"]["discriminator"]["mapping"]
    assert set(mapping) == {GET_ACTION_LIST, EXECUTE_ACTION, GET_FIELD_OPTIONS, GET_ELEMENT_STATUS}
    for name, ref in mapping.items():
        schema = SCHEMAS[ref.rsplit("/", 1)[1]]
        assert schema["properties"]["name"]["enum"] == [name]


def test_every_status_the_bridge_answers_is_described() -> None:
    responses = SPEC["paths"][MESSAGES_PATH]["post"]["responses"]
    grpc_statuses = set(HTTP_STATUS_BY_GRPC_CODE.values()) | {500}
    # The bridge's own: bad message, auth, unknown, stalled body, too large, wrong type,
    # answer too large, down/overloaded/Jet's API down.
    own = {200, 400, 401, 403, 404, 408, 413, 415, 500, 502, 503}
    assert {int(status) for status in responses} == grpc_statuses | own
    for status, response in responses.items():
        if status != "200":
            ref = response.get("$ref", "")
            content = SPEC["components"]["responses"][ref.rsplit("/", 1)[1]] if ref else response
            assert "application/json" in content["content"], status


def test_enums_match_the_code() -> None:
    fields = SCHEMAS["ActionParam"]["properties"]["field"]["enum"]
    assert set(fields) == {field_name(value) for value in actions_pb2.FieldType.values()}
    assert SCHEMAS["ServiceState"]["enum"] == [state.value for state in ServiceState]


@pytest.fixture(scope="module")
def bridge(shop: ActionServerProcess) -> Iterator[BridgeProcess]:
    """`jetbridge serve --disable-auth` in front of the shop, as its own process."""
    args = ["--disable-auth", f"--service=shop={shop.address}"]
    with bridge_process(*args, name="openapi-bridge") as bridge:
        wait_ready(bridge.url, bridge.process, bridge.output)
        yield bridge


@SCHEMA.parametrize()
@hypothesis.settings(deadline=None, suppress_health_check=list(hypothesis.HealthCheck))
def test_bridge_conforms_to_its_description(
    case: schemathesis.Case[Any], bridge: BridgeProcess
) -> None:
    case.call_and_validate(base_url=bridge.url, checks=CHECKS, timeout=15)


def test_the_bridge_logged_no_error(bridge: BridgeProcess) -> None:
    """Runs after schemathesis: no unhandled exception and no 5xx in the bridge's log."""
    log = bridge.output()
    assert "Traceback" not in log
    assert " ERROR " not in log
