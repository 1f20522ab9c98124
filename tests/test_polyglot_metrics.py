"""The three SDKs' Prometheus metrics: the same names, labels and counts for the same calls.

Each action server runs as its own process with JETACTIONS_METRICS_PORT=0 (the port it picked
is on its log line), gets the same calls over gRPC, and is scraped over HTTP; the families of
the three must agree with one another and with what docs/go.md and docs/typescript.md name.
"""

from __future__ import annotations

import contextlib
import re
import urllib.request
from collections.abc import Mapping
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2
from prometheus_client.parser import text_string_to_metric_families

from jetactions.v1 import actions_pb2, actions_pb2_grpc
from tests.support import (
    GO_SHOP,
    LANGUAGES,
    NODE_SHOP,
    ROOT,
    SERVING,
    Language,
    clean_env,
    require_built,
    started,
    wait_for_line,
)

METRICS = re.compile(r"metrics(?: on http://|=)(127\.0\.0\.1:\d+)")
FAMILIES = {
    "rpc_server_duration_seconds": {"rpc_method", "action", "outcome"},
    "rpc_server_calls": {"rpc_method", "action", "outcome"},
    "rpc_server_active_requests": {"rpc_method"},
}
"""The families every SDK exports (`rpc_server_calls` is the counter `rpc_server_calls_total`)."""


def request_of(language: Language) -> actions_pb2.ExecuteActionRequest:
    """The gRPC form of the language's Jet message (ids, inputs), as the bridge would send it."""
    params: Mapping[str, Any] = language.message
    ids = params.get("ids") or [params["id"]]
    request = actions_pb2.ExecuteActionRequest(action=params["name"], model=params["model"])
    for value in ids:
        request.ids.append(struct_pb2.Value(number_value=value))
    request.inputs.update(params.get("params", {}))
    return request


def scrape(address: str) -> dict[str, list[Any]]:
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        family.name: family.samples
        for family in text_string_to_metric_families(text)
        # prometheus-client (Python) adds `*_created` timestamps: not part of what SDKs share.
        if family.name.startswith("rpc_server_") and not family.name.endswith("_created")
    }


async def calls_then_scrape(language: Language) -> dict[str, list[Any]]:
    env = clean_env(JETACTIONS_METRICS_PORT="0")
    command = (*language.command, "--address", "127.0.0.1:0")
    with started(f"metrics-{language.name}", command, env) as process:
        address = (await wait_for_line(process, SERVING)).group(1)
        metrics = (await wait_for_line(process, METRICS)).group(1)
        async with grpc.aio.insecure_channel(address) as channel:
            stub = actions_pb2_grpc.ActionServiceStub(channel)
            reply = await stub.ExecuteAction(request_of(language))
            assert reply.WhichOneof("outcome") == "result", reply
            with contextlib.suppress(grpc.aio.AioRpcError):
                await stub.ExecuteAction(actions_pb2.ExecuteActionRequest(action="no_such"))
            await stub.ListActions(actions_pb2.ListActionsRequest())
        return scrape(metrics)


@pytest.mark.parametrize("language", LANGUAGES, ids=[language.name for language in LANGUAGES])
async def test_each_sdk_exports_the_same_metrics(language: Language) -> None:
    if language.name != "python":
        require_built(GO_SHOP if language.name == "go" else NODE_SHOP)
    families = await calls_then_scrape(language)
    labels = {
        name: {key for sample in samples for key in sample.labels if key != "le"}
        for name, samples in families.items()
    }
    assert labels == FAMILIES
    calls = {
        (s.labels["rpc_method"], s.labels["action"], s.labels["outcome"]): s.value
        for s in families["rpc_server_calls"]
        if s.name == "rpc_server_calls_total"
    }
    assert calls == {
        ("ExecuteAction", language.message["name"], "result"): 1,
        ("ExecuteAction", "", "NOT_FOUND"): 1,  # an undeclared name makes no series of its own
        ("ListActions", "", "OK"): 1,
    }
    counts = [s for s in families["rpc_server_duration_seconds"] if s.name.endswith("_count")]
    assert sum(s.value for s in counts) == 3
    active = {s.labels["rpc_method"]: s.value for s in families["rpc_server_active_requests"]}
    assert active["ExecuteAction"] == 0


@pytest.mark.parametrize("doc", ["go.md", "typescript.md"])
def test_the_docs_name_every_metric_and_label(doc: str) -> None:
    text = (ROOT / "docs" / doc).read_text()
    for name in (
        "rpc_server_duration_seconds",
        "rpc_server_calls_total",
        "rpc_server_active_requests",
    ):
        assert f"`{name}`" in text, (doc, name)
    for label in set().union(*FAMILIES.values()):
        assert f"`{label}`" in text, (doc, label)
