"""Action servers' gRPC answers rendered as Jet Admin's JSON."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from jetactions.contract import from_struct, from_value, jet_field_name
from jetactions.v1 import actions_pb2


def field_name(field_type: int) -> str:
    """Jet's name of a FieldType; values from a newer contract read as CharField."""
    return jet_field_name(field_type)


def action(item: actions_pb2.Action) -> dict[str, Any]:
    """One get_action_list entry."""
    data: dict[str, Any] = {"name": item.name}
    for key in ("label", "icon", "description"):
        if text := getattr(item, key):
            data[key] = text
    if item.WhichOneof("kind") == "model_action":
        models = list(item.model_action.models)
        data["model_action"] = {
            "model": models[0] if len(models) == 1 else models,
            "for_instance": item.model_action.for_instance,
            "bulk": item.model_action.bulk,
        }
    else:
        data["common_action"] = {}
    if item.params:
        data["params"] = [param(p) for p in item.params]
    return data


def param(item: actions_pb2.Param) -> dict[str, Any]:
    """One input of an action's form."""
    params: dict[str, Any] = {}
    if item.options:
        params["options_type"] = "static"
        params["options"] = [option(o) for o in item.options]
    if item.options_from_server:
        params["options_type"] = "dynamic"
    if item.related_model:
        params["related_model"] = {"model": item.related_model}
    params.update(from_struct(item.extra))
    data: dict[str, Any] = {
        "name": item.name,
        "field": field_name(item.field),
        "required": item.required,
        "params": params,
    }
    if item.label:
        data["label"] = item.label
    if item.description:
        data["description"] = item.description
    if item.HasField("default_value"):
        data["default_value"] = from_value(item.default_value)
    return data


def option(item: actions_pb2.Option) -> dict[str, Any]:
    """One select option: value (any JSON), name, and color when set."""
    data = {"value": from_value(item.value), "name": item.name}
    if item.color:
        data["color"] = item.color
    return data


@dataclass(frozen=True, slots=True)
class Download:
    """A file result: sent as a raw body, not JSON."""

    content: bytes
    content_type: str
    disposition: str


def execute_result(
    response: actions_pb2.ExecuteActionResponse,
) -> tuple[int, dict[str, Any]] | Download:
    """An execute_action answer: (status, JSON object), or a Download."""
    outcome = response.WhichOneof("outcome")
    if outcome == "file":
        return _download(response.file)
    if outcome == "errors":
        return 400, field_errors(response.errors)
    if outcome is None:
        raise ProtocolViolation("an ExecuteAction answer with no outcome")
    result = response.result
    body: dict[str, Any] = from_struct(result.extra)
    body["result"] = from_value(result.value) if result.HasField("value") else True
    if result.HasField("message"):
        body["message"] = result.message
    if result.HasField("html"):
        body["html"] = result.html
    return 200, body


def field_errors(errors: actions_pb2.FieldErrors) -> dict[str, Any]:
    """Jet's 400 validation shape (`{"<field>": [...], "non_field_errors": [...]}`), plus the
    documented `{"result": false, "errors": {...}}` form and a `detail` line for other clients.
    """
    jet_errors = {name: list(item.messages) for name, item in errors.fields.items()}
    if errors.non_field_errors:
        jet_errors["non_field_errors"] = list(errors.non_field_errors)
    summary = [
        message if name == "non_field_errors" else f"{name}: {message}"
        for name, messages in jet_errors.items()
        for message in messages[:1]
    ]
    detail = "; ".join(summary) or "The action refused its inputs"
    return {**jet_errors, "detail": detail, "result": False, "errors": jet_errors}


class ProtocolViolation(ValueError):
    """An action server's answer breaks the contract; the message says how."""


# RFC 9110 media type: type "/" subtype, then parameters; tokens only, no CR/LF, bounded.
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_MEDIA_TYPE = re.compile(
    rf"{_TOKEN}/{_TOKEN}(\s*;\s*{_TOKEN}=({_TOKEN}|\"[^\"\\\x00-\x1f\x7f]*\"))*"
)
# What can spoof or break a file name: controls (CR/LF/NUL), bidi overrides and isolates,
# zero-width characters, and path separators.
_UNSAFE_IN_NAME = re.compile("[\x00-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff/\\\\]")
MAX_FILENAME_CHARS = 150


def _download(file: actions_pb2.File) -> Download:
    content_type = file.content_type or "application/octet-stream"
    if len(content_type) > 200 or not _MEDIA_TYPE.fullmatch(content_type):
        raise ProtocolViolation("a File with an invalid content type")
    return Download(
        content=file.content,
        content_type=content_type,
        disposition=content_disposition(safe_filename(file.filename)),
    )


def safe_filename(name: str) -> str:
    """The name without what could spoof or break it, at most MAX_FILENAME_CHARS long (the
    extension kept), and never empty."""
    name = _UNSAFE_IN_NAME.sub("", name).strip(" .")
    if len(name) > MAX_FILENAME_CHARS:
        stem, dot, extension = name.rpartition(".")
        if dot and 0 < len(extension) <= 16:
            name = stem[: MAX_FILENAME_CHARS - len(extension) - 1] + "." + extension
        else:
            name = name[:MAX_FILENAME_CHARS]
    return name or "download"


def content_disposition(filename: str) -> str:
    """`attachment` with an ASCII fallback name and the exact name in RFC 5987 form."""
    fallback = re.sub(r"[^A-Za-z0-9._ -]", "_", filename) or "download"
    encoded = "".join(
        ch
        if re.match(r"[A-Za-z0-9!#$&+.^_`|~-]", ch)
        else "".join(f"%{b:02X}" for b in ch.encode())
        for ch in filename
    )
    if encoded == filename:
        return f'attachment; filename="{filename}"'
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"


def field_options(response: actions_pb2.GetFieldOptionsResponse) -> list[dict[str, Any]]:
    """A get_field_options answer."""
    return [option(o) for o in response.options]
