"""The rules a ListActions answer follows, whatever the server serves (actions.proto).

Each function returns the problems it found, one short sentence each; none means valid.
"""

from __future__ import annotations

import re
from collections import Counter

from jetactions.v1 import actions_pb2

FT = actions_pb2.FieldType
_SERVER_NAME = re.compile(r"[A-Za-z0-9_.-]+")


def name_problems(listing: actions_pb2.ListActionsResponse) -> list[str]:
    """At least one action; every action named, no name twice."""
    if not listing.actions:
        return ["no actions declared"]
    problems = [f"action #{i} has no name" for i, a in enumerate(listing.actions) if not a.name]
    counts = Counter(action.name for action in listing.actions if action.name)
    problems += [f"{name!r} is declared {n} times" for name, n in counts.items() if n > 1]
    return problems


def kind_problems(listing: actions_pb2.ListActionsResponse) -> list[str]:
    """Exactly one kind per action; a model action names its models, each once."""
    problems = []
    for action in listing.actions:
        kind = action.WhichOneof("kind")
        if kind is None:
            problems.append(f"{action.name}: neither model_action nor common_action")
        elif kind == "model_action":
            models = list(action.model_action.models)
            if not models:
                problems.append(f"{action.name}: model_action without models")
            if any(not model for model in models):
                problems.append(f"{action.name}: an empty model name")
            if len(set(models)) != len(models):
                problems.append(f"{action.name}: a model named twice in {models}")
    return problems


def param_problems(listing: actions_pb2.ListActionsResponse) -> list[str]:
    """Params named once each, of a known field type, with what their type needs."""
    problems = []
    for action in listing.actions:
        counts = Counter(param.name for param in action.params)
        problems += [f"{action.name}: param {n!r} twice" for n, c in counts.items() if c > 1]
        for param in action.params:
            where = f"{action.name}.{param.name or '<no name>'}"
            problems += [f"{where}: {problem}" for problem in _param_problems(param)]
    return problems


def _param_problems(param: actions_pb2.Param) -> list[str]:
    problems = []
    if not param.name:
        problems.append("no name")
    if param.field not in FT.values():
        problems.append(f"unknown field type {param.field}")
    is_select = param.field == FT.FIELD_TYPE_SELECT
    if is_select and not param.options and not param.options_from_server:
        problems.append("a SelectField with neither options nor options_from_server")
    if param.options and param.options_from_server:
        problems.append("both static options and options_from_server")
    if (param.options or param.options_from_server) and not is_select:
        problems.append("options on a field that is not a SelectField")
    values = []
    for index, option in enumerate(param.options):
        if option.value.WhichOneof("kind") is None:
            problems.append(f"option #{index} has no value")
        if not option.name:
            problems.append(f"option #{index} has no name")
        values.append(option.value.SerializeToString(deterministic=True))
    if len(set(values)) != len(values):
        problems.append("two options with the same value")
    if param.options and param.HasField("default_value"):
        default = param.default_value.SerializeToString(deterministic=True)
        if default not in values:
            problems.append("a default_value that is none of its options")
    is_foreign_key = param.field == FT.FIELD_TYPE_FOREIGN_KEY
    if is_foreign_key and not param.related_model:
        problems.append("a ForeignKey without related_model")
    if param.related_model and not is_foreign_key:
        problems.append("related_model on a field that is not a ForeignKey")
    return problems


def source_problems(listing: actions_pb2.ListActionsResponse) -> list[str]:
    """Every options_from_server param has its source (its action's model, its name)."""
    declared = Counter((ref.model, ref.field) for ref in listing.field_options)
    problems = [f"field_options ({m!r}, {f!r}) twice" for (m, f), n in declared.items() if n > 1]
    problems += [f"field_options ({m!r}, '') names no field" for m, f in declared if not f]
    for action in listing.actions:
        models = list(action.model_action.models) if action.HasField("model_action") else [""]
        for param in action.params:
            if param.options_from_server:
                problems += [
                    f"{action.name}.{param.name}: no field_options ({model!r}, {param.name!r})"
                    for model in models
                    if (model, param.name) not in declared
                ]
    return problems


def server_name_problems(listing: actions_pb2.ListActionsResponse) -> list[str]:
    """server_name, when declared, is letters, digits, `_`, `.` and `-`."""
    name = listing.server_name
    if name and not _SERVER_NAME.fullmatch(name):
        return [f"server_name {name!r} has characters other than letters, digits, _ . -"]
    return []
