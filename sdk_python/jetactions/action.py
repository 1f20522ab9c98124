"""Declaring actions: the decorators, the ``Param`` declaration and the definitions they build.

A decorator inspects the handler's signature once, when the module is imported, builds a
frozen ``ActionDefinition`` (the Jet form, the input rules, the ListActions entry), registers
it on the server it was called on and returns the function unchanged. Mistakes (an
unsupported annotation, a duplicate name, a first parameter that is not the context) therefore
fail at import, not at the first call. Reading the signature (typing forms, defaults, the
context parameter) lives in ``jetactions._signature``; this module maps what it read to Jet.

Parameter annotations map to Jet form fields:

| annotation | field | the handler receives |
|---|---|---|
| ``str`` | CharField | ``str`` |
| ``int`` | IntegerField | ``int`` |
| ``float`` | FloatField | ``float`` |
| ``Decimal`` | DecimalField | ``Decimal`` |
| ``bool`` | BooleanField | ``bool`` |
| ``datetime`` / ``date`` / ``time`` | DateTimeField / DateField / TimeField | the same |
| ``Literal[...]`` | SelectField, options = the values | the value |
| an ``Enum`` | SelectField, options = member values named by member names | the member |
| ``dict`` / ``list`` (parametrized or not) | JSONField | ``dict`` / ``list`` |

``X | None`` or a default makes the input optional; a JSON-representable default is also
the form's starting value. ``Annotated[X, Param(...)]`` and ``params=[Param(...)]`` refine
or add inputs.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import inspect
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, TypeVar, overload

from jetactions import _convert, _inputs, _signature
from jetactions.context import ActionContext, FieldContext
from jetactions.contract import FieldType
from jetactions.results import Option
from jetactions.v1 import actions_pb2

__all__ = [
    "ActionDefinition",
    "ActionRegistry",
    "FieldOptionsDefinition",
    "FieldType",
    "Param",
]

Handler = TypeVar("Handler", bound=Callable[..., Any])


# How inputs of a field type are checked when no annotation says more (inputs declared
# only in `params=[...]`, which never reach a handler parameter).
_FIELD_CONVERTERS: dict[FieldType, _inputs.Converter] = {
    FieldType.BOOLEAN: _inputs.to_bool,
    FieldType.CHAR: _inputs.to_str,
    FieldType.TEXT: _inputs.to_str,
    FieldType.CODE: _inputs.to_str,
    FieldType.SQL: _inputs.to_str,
    FieldType.INTEGER: _inputs.to_int,
    FieldType.FLOAT: _inputs.to_float,
    FieldType.DECIMAL: _inputs.to_decimal,
    FieldType.DATE_TIME: _inputs.to_datetime,
    FieldType.DATE: _inputs.to_date,
    FieldType.TIME: _inputs.to_time,
}


class _Unset(enum.Enum):
    UNSET = enum.auto()


UNSET = _Unset.UNSET
"""Marks a ``Param`` attribute that is not declared (so it is inferred or left empty)."""


@dataclass(frozen=True)
class Param:
    """An explicit declaration of one form input.

    Use it in ``params=[...]`` (matched by name: refines an input inferred from the
    signature, or adds one that the handler then reads from ``ctx.inputs``), or as
    ``Annotated`` metadata on a handler parameter (its name may then be left empty). Every
    attribute left at its default keeps the inferred value.

    Example:
        ```python
        async def mail(
            ctx: ActionContext,
            body: Annotated[str, Param(field="TextField", label="Body")] = "",
        ) -> Result: ...
        ```

    Args:
        name: The input's name.
        field: The Jet field type: a ``FieldType``, Jet's spelling (``"TextField"``) or the
            proto enum value. Declaring options makes it a SelectField unless set.
        required: Whether the form needs a value. Inputs added only through ``params``
            default to optional.
        label: The human label; empty means Jet shows the name.
        description: Help text shown under the input.
        default: The form's starting value (any JSON value).
        options: Static options of a SelectField; a value outside them is refused.
        options_from_server: The options come from the ``field_options`` handler of
            (action's model, input name).
        related_model: The related collection of a ForeignKey.
        extra: Further Jet field params, passed to Jet Admin as is.
    """

    name: str = ""
    field: FieldType | str | int | None = None
    required: bool | None = None
    label: str | None = None
    description: str | None = None
    default: object = UNSET
    options: Sequence[Option] | None = None
    options_from_server: bool | None = None
    related_model: str | None = None
    extra: Mapping[str, object] | None = None

    def __post_init__(self) -> None:
        # Fail where the Param is written, not when the server starts.
        if self.field is not None:
            FieldType.parse(self.field)
        if self.options is not None and not all(isinstance(o, Option) for o in self.options):
            raise TypeError("Param.options must be Option instances")

    def merged_over(self, base: Param) -> Param:
        """Returns ``base`` with every attribute this declaration sets replaced."""
        changes = {
            item.name: getattr(self, item.name)
            for item in dataclasses.fields(self)
            # Every default is a singleton (None or UNSET) meaning "not declared".
            if item.name != "name" and getattr(self, item.name) is not item.default
        }
        return dataclasses.replace(base, **changes)


@dataclass(frozen=True)
class ActionDefinition:
    """Everything the server knows about one action, built once at decoration.

    Attributes:
        name: The unique action name.
        handler: The decorated function.
        is_async: The handler is a coroutine function (else it runs in a worker thread).
        label: The human title.
        icon: The icon name.
        description: The longer description.
        models: The collections a model action appears on; empty for common actions.
        for_instance: The action runs on selected records.
        bulk: One call carries many ids.
        params: The form inputs, in display order, fully resolved.
        timeout: The upper bound on one run in seconds, or None for the bridge's default.
        idempotent: The bridge may retry the action after a transport failure.
        rules: How each declared input is checked before the handler runs.
    """

    name: str
    handler: Callable[..., Any]
    is_async: bool
    label: str
    icon: str
    description: str
    models: tuple[str, ...]
    for_instance: bool
    bulk: bool
    params: tuple[Param, ...]
    timeout: float | None
    idempotent: bool
    rules: tuple[_inputs.InputRule, ...] = dataclasses.field(repr=False)

    def to_proto(self) -> actions_pb2.Action:
        """Returns the ListActions entry of this action."""
        action = actions_pb2.Action(
            name=self.name,
            label=self.label,
            icon=self.icon,
            description=self.description,
            idempotent=self.idempotent,
        )
        if self.models:
            action.model_action.models.extend(self.models)
            action.model_action.for_instance = self.for_instance
            action.model_action.bulk = self.bulk
        else:
            action.common_action.SetInParent()
        if self.timeout is not None:
            action.timeout.FromTimedelta(datetime.timedelta(seconds=self.timeout))
        for param in self.params:
            _fill_param(action.params.add(), param)
        return action


def _fill_param(target: actions_pb2.Param, param: Param) -> None:
    target.name = param.name
    target.field = _field_of(param).proto
    target.required = bool(param.required)
    target.label = param.label or ""
    target.description = param.description or ""
    if param.default is not UNSET:
        _convert.fill_value(target.default_value, param.default)
    for option in param.options or ():
        entry = target.options.add(name=option.name, color=option.color)
        _convert.fill_value(entry.value, option.value)
    target.options_from_server = bool(param.options_from_server)
    target.related_model = param.related_model or ""
    if param.extra:
        _convert.fill_struct(target.extra, param.extra)


@dataclass(frozen=True)
class FieldOptionsDefinition:
    """A handler that lists the options of one select field.

    Attributes:
        model: The model (collection) of the field.
        field: The field's name.
        handler: The decorated function; it takes a ``FieldContext``.
        is_async: The handler is a coroutine function (else it runs in a worker thread).
    """

    model: str
    field: str
    handler: Callable[..., Any]
    is_async: bool


class ActionRegistry:
    """The actions and field options sources of one action server.

    ``ActionServer`` is the registry users meet; the decorators live here so that the
    declaration side stays apart from the networking side.
    """

    def __init__(self) -> None:
        self._actions: dict[str, ActionDefinition] = {}
        self._field_options: dict[tuple[str, str], FieldOptionsDefinition] = {}
        self._frozen_by = ""

    @property
    def actions(self) -> Mapping[str, ActionDefinition]:
        """The actions by name, in registration order (the order Jet shows them)."""
        return types.MappingProxyType(self._actions)

    @property
    def field_option_sources(self) -> Mapping[tuple[str, str], FieldOptionsDefinition]:
        """The field options handlers by (model, field), in registration order."""
        return types.MappingProxyType(self._field_options)

    def freeze(self, reason: str) -> None:
        """Refuses further registrations, because ``reason`` (e.g. a server started)."""
        self._frozen_by = reason

    def model_action(
        self,
        *models: str,
        for_instance: bool = False,
        bulk: bool = False,
        name: str | None = None,
        label: str = "",
        icon: str = "",
        description: str = "",
        params: Iterable[Param] = (),
        timeout: float | datetime.timedelta | None = None,
        idempotent: bool = False,
    ) -> Callable[[Handler], Handler]:
        """Declares an action shown on one or more collections.

        Example:
            ```python
            @app.model_action("users", for_instance=True, bulk=True, label="Mail users")
            async def mail_users(ctx: ActionContext, subject: str) -> Result: ...
            ```

        Args:
            *models: The collection names (at least one).
            for_instance: The action runs on selected records and receives their ids.
            bulk: One call carries many ids; otherwise Jet calls once per record.
            name: The unique action name; the function's name by default.
            label: The human title; empty means Jet shows the name.
            icon: The icon name shown next to the action.
            description: A longer description.
            params: Explicit input declarations (see ``Param``).
            timeout: The upper bound on one run (seconds or a timedelta); None leaves it
                to the bridge.
            idempotent: Running twice has the same effect as once, so the bridge may retry.

        Returns:
            A decorator that registers the handler and returns it unchanged.

        Raises:
            ValueError: No model, a duplicate name, or an invalid timeout.
            TypeError: (From the decorator) the signature cannot become a form: its first
                parameter is not the context, or an input has no supported annotation.
        """
        if not models or not all(isinstance(m, str) and m for m in models):
            raise ValueError("model_action needs at least one model name")
        options = _Options(
            name, label, icon, description, tuple(params), _seconds(timeout), idempotent
        )

        def decorate(handler: Handler) -> Handler:
            self._add(_build_action(handler, options, tuple(models), for_instance, bulk))
            return handler

        return decorate

    @overload
    def common_action(self, handler: Handler, /) -> Handler: ...

    @overload
    def common_action(
        self,
        handler: None = None,
        /,
        *,
        name: str | None = None,
        label: str = "",
        icon: str = "",
        description: str = "",
        params: Iterable[Param] = (),
        timeout: float | datetime.timedelta | None = None,
        idempotent: bool = False,
    ) -> Callable[[Handler], Handler]: ...

    def common_action(
        self,
        handler: Callable[..., Any] | None = None,
        /,
        *,
        name: str | None = None,
        label: str = "",
        icon: str = "",
        description: str = "",
        params: Iterable[Param] = (),
        timeout: float | datetime.timedelta | None = None,
        idempotent: bool = False,
    ) -> Any:
        """Declares an action that is not tied to any collection.

        Usable bare (``@app.common_action``) or with options
        (``@app.common_action(label="Refresh stats")``); the options mean the same as
        ``model_action``'s.

        Returns:
            The handler unchanged, or a decorator that registers it and returns it.
        """
        options = _Options(
            name, label, icon, description, tuple(params), _seconds(timeout), idempotent
        )

        def decorate(handler: Handler) -> Handler:
            self._add(_build_action(handler, options, (), False, False))
            return handler

        return decorate if handler is None else decorate(handler)

    def field_options(self, model: str, field: str) -> Callable[[Handler], Handler]:
        """Declares the handler that lists the options of one select field.

        The handler takes a ``FieldContext`` and returns a list of ``Option`` (or of dicts
        with ``value``, ``name`` and optional ``color``); sync or async.

        Example:
            ```python
            @app.field_options("orders", "city")
            async def cities(ctx: FieldContext) -> list[Option]: ...
            ```

        Raises:
            ValueError: A handler for (model, field) already exists.
            TypeError: (From the decorator) the handler cannot take one context argument, or
            its first parameter is annotated with another type than ``FieldContext``.
        """

        def decorate(handler: Handler) -> Handler:
            self._check_open()
            what = f"field options ({model!r}, {field!r})"
            try:
                inspect.signature(handler).bind(None)
            except TypeError:
                raise TypeError(f"{what}: the handler must take one FieldContext") from None
            except ValueError:
                raise TypeError(f"{what}: cannot read the handler's signature") from None
            parameters = list(inspect.signature(handler).parameters.values())
            _signature.check_context_parameter(what, handler, FieldContext, parameters)
            key = (model, field)
            if key in self._field_options:
                raise ValueError(f"{what} are already declared")
            self._field_options[key] = FieldOptionsDefinition(
                model, field, handler, _is_async(handler)
            )
            return handler

        return decorate

    def _check_open(self) -> None:
        if self._frozen_by:
            raise RuntimeError(f"cannot declare more actions: {self._frozen_by}")

    def _add(self, definition: ActionDefinition) -> None:
        self._check_open()
        if definition.name in self._actions:
            raise ValueError(f"duplicate action name {definition.name!r}")
        self._actions[definition.name] = definition


@dataclass(frozen=True)
class _Options:
    name: str | None
    label: str
    icon: str
    description: str
    params: tuple[Param, ...]
    timeout: float | None
    idempotent: bool


def _seconds(timeout: float | datetime.timedelta | None) -> float | None:
    if timeout is None:
        return None
    seconds = timeout.total_seconds() if isinstance(timeout, datetime.timedelta) else float(timeout)
    if not seconds > 0:
        raise ValueError(f"timeout must be positive, not {timeout!r}")
    return seconds


def _is_async(handler: Callable[..., Any]) -> bool:
    # Callable objects with an `async def __call__` count as async too.
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
        getattr(handler, "__call__", None)  # noqa: B004 - looking for async __call__
    )


def _build_action(
    handler: Callable[..., Any],
    options: _Options,
    models: tuple[str, ...],
    for_instance: bool,
    bulk: bool,
) -> ActionDefinition:
    name = options.name or getattr(handler, "__name__", "")
    if not name:
        raise ValueError("the action needs a name (pass name=...)")
    params, rules = _form(name, handler, options.params)
    return ActionDefinition(
        name=name,
        handler=handler,
        is_async=_is_async(handler),
        label=options.label,
        icon=options.icon,
        description=options.description,
        models=models,
        for_instance=for_instance,
        bulk=bulk,
        params=params,
        timeout=options.timeout,
        idempotent=options.idempotent,
        rules=rules,
    )


def _field_of(param: Param) -> FieldType:
    return FieldType.parse(param.field) if param.field is not None else FieldType.CHAR


@dataclass(frozen=True)
class _Inferred:
    """What an annotation (or, for params-only inputs, a field type) implies."""

    field: FieldType
    options: tuple[Option, ...] | None
    converter: _inputs.Converter
    optional: bool
    is_choice: bool  # the converter itself checks membership (Literal, Enum)


def _form(
    action: str, handler: Callable[..., Any], explicit: tuple[Param, ...]
) -> tuple[tuple[Param, ...], tuple[_inputs.InputRule, ...]]:
    """Builds the form and the input rules from the signature and explicit params."""
    by_name: dict[str, Param] = {}
    for param in explicit:
        if not param.name:
            raise ValueError(f"action {action!r}: a Param in params=[...] needs a name")
        if param.name in by_name:
            raise ValueError(f"action {action!r}: params declares {param.name!r} twice")
        by_name[param.name] = param

    params: list[Param] = []
    rules: list[_inputs.InputRule] = []
    for parameter in _signature.form_parameters(f"action {action!r}", handler, ActionContext):
        where = f"action {action!r}, parameter {parameter.name!r}"
        inferred, declared = _infer(where, parameter)
        if parameter.name in by_name:
            declared = by_name.pop(parameter.name).merged_over(declared)
        has_default = parameter.has_default
        resolved = _resolve(where, declared, inferred, has_default, parameter.default)
        params.append(resolved)
        rules.append(_rule(resolved, inferred, argument=True, has_default=has_default))

    # Inputs declared only in `params`: checked by field type, read from ctx.inputs.
    for param in by_name.values():
        where = f"action {action!r}, param {param.name!r}"
        field = _field_of(param)
        inferred = _Inferred(
            field=FieldType.CHAR,
            options=None,
            converter=_FIELD_CONVERTERS.get(field, _inputs.to_any),
            optional=True,
            is_choice=False,
        )
        resolved = _resolve(where, param, inferred, False, None)
        params.append(resolved)
        rules.append(_rule(resolved, inferred, argument=False, has_default=False))
    return tuple(params), tuple(rules)


def _rule(
    param: Param, inferred: _Inferred, *, argument: bool, has_default: bool
) -> _inputs.InputRule:
    converter = inferred.converter
    if param.options and not inferred.is_choice:
        converter = _inputs.restricted(converter, [option.value for option in param.options])
    # Only free text treats "" as a value; for anything else an empty input means "missing".
    text_fields = (FieldType.CHAR, FieldType.TEXT, FieldType.CODE, FieldType.SQL)
    keeps_empty = converter is _inputs.to_str and _field_of(param) in text_fields
    return _inputs.InputRule(
        name=param.name,
        required=bool(param.required),
        converter=converter,
        keeps_empty_string=keeps_empty,
        argument=argument,
        has_default=has_default,
    )


_SIMPLE_TYPES: dict[object, tuple[FieldType, _inputs.Converter]] = {
    str: (FieldType.CHAR, _inputs.to_str),
    int: (FieldType.INTEGER, _inputs.to_int),
    float: (FieldType.FLOAT, _inputs.to_float),
    Decimal: (FieldType.DECIMAL, _inputs.to_decimal),
    bool: (FieldType.BOOLEAN, _inputs.to_bool),
    datetime.datetime: (FieldType.DATE_TIME, _inputs.to_datetime),
    datetime.date: (FieldType.DATE, _inputs.to_date),
    datetime.time: (FieldType.TIME, _inputs.to_time),
    dict: (FieldType.JSON, _inputs.to_json_object),
    list: (FieldType.JSON, _inputs.to_json_list),
}


def _infer(where: str, parameter: _signature.HandlerParameter) -> tuple[_Inferred, Param]:
    """Maps one parameter's annotation to what it implies and its merged ``Param`` metadata."""
    name, annotation, optional = parameter.name, parameter.annotation, parameter.optional
    metadata = [item for item in parameter.metadata if isinstance(item, Param)]
    origin = typing.get_origin(annotation)
    options: tuple[Option, ...] | None = None
    is_choice = False
    if origin in (dict, list):
        field, converter = _SIMPLE_TYPES[origin]
    elif annotation in _SIMPLE_TYPES:
        field, converter = _SIMPLE_TYPES[annotation]
    elif origin is Literal:
        values = typing.get_args(annotation)
        if not all(isinstance(value, str | int | float) for value in values):
            raise TypeError(f"{where}: Literal values must be strings or numbers")
        field, converter, is_choice = FieldType.SELECT, _inputs.choice_of(values), True
        options = tuple(Option(value, str(value)) for value in values)
    elif isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        if not all(isinstance(member.value, str | int | float) for member in annotation):
            raise TypeError(f"{where}: {annotation.__name__} values must be strings or numbers")
        field, converter, is_choice = FieldType.SELECT, _inputs.member_of(annotation), True
        options = tuple(Option(member.value, member.name) for member in annotation)
    else:
        raise TypeError(
            f"{where}: unsupported type {_signature.type_name(annotation)}; use str, int, float, "
            "Decimal, bool, datetime, date, time, a Literal, an Enum, dict or list"
        )

    declared = Param(name=name)
    for item in metadata:
        if item.name and item.name != name:
            raise ValueError(f"{where}: Param(name={item.name!r}) names another input")
        declared = item.merged_over(declared)
    return _Inferred(field, options, converter, optional, is_choice), declared


def _resolve(
    where: str,
    declared: Param,
    inferred: _Inferred,
    has_default: bool,
    python_default: object,
) -> Param:
    """Fills every attribute the declarations left open with the inferred or empty value."""
    if declared.field is not None:
        field = FieldType.parse(declared.field)
    elif declared.options is not None or declared.options_from_server:
        field = FieldType.SELECT  # declaring options on a plain input makes it a select
    else:
        field = inferred.field
    optional = inferred.optional or has_default
    required = declared.required if declared.required is not None else not optional
    if not required and not optional:
        raise TypeError(f"{where}: required=False needs a default or `| None`")
    default = declared.default
    if default is UNSET and has_default and python_default is not None:
        try:
            _convert.to_value(python_default)
            default = python_default
        except (TypeError, ValueError):
            pass  # not JSON-representable: the form starts empty
    options = declared.options if declared.options is not None else inferred.options
    resolved = Param(
        name=declared.name,
        field=field,
        required=required,
        label=declared.label or "",
        description=declared.description or "",
        default=default,
        options=tuple(options or ()),
        options_from_server=bool(declared.options_from_server),
        related_model=declared.related_model or "",
        extra=dict(declared.extra or {}),
    )
    try:
        # Option values and extra must fit in protobuf Values: fail here, not at start.
        _fill_param(actions_pb2.Param(), resolved)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{where}: {error}") from error
    return resolved
