"""Reading a handler's signature: its parameters, their annotations, defaults and metadata.

Kept apart from the mapping of annotations to Jet fields (``jetactions.action``): this module
knows Python's signatures and typing forms (``Annotated``, ``X | None``, string annotations),
not Jet. Every mistake is a ``TypeError`` that names the action and the parameter.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Union

__all__ = ["HandlerParameter", "check_context_parameter", "form_parameters", "type_name"]


@dataclass(frozen=True)
class HandlerParameter:
    """One parameter after the context, with its typing forms taken apart.

    Attributes:
        name: The parameter's name (the input's name).
        annotation: The type, without ``Annotated`` and without ``| None``.
        optional: The annotation was ``X | None`` (or ``Optional[X]``).
        metadata: The ``Annotated`` metadata, innermost first.
        default: The Python default, or ``inspect.Parameter.empty``.
    """

    name: str
    annotation: object
    optional: bool
    metadata: tuple[object, ...]
    default: object

    @property
    def has_default(self) -> bool:
        """Whether the parameter has a Python default."""
        return self.default is not inspect.Parameter.empty


def _signature(what: str, handler: Callable[..., Any]) -> inspect.Signature:
    try:
        return inspect.signature(handler)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{what}: cannot read the handler's signature") from error


def _hints(what: str, handler: Callable[..., Any]) -> dict[str, object]:
    try:
        # include_extras keeps Annotated metadata; string annotations get resolved here.
        return typing.get_type_hints(handler, include_extras=True)
    except NameError as error:
        raise TypeError(f"{what}: cannot resolve an annotation: {error}") from None
    except TypeError:
        return {}  # not a plain function (e.g. a partial): use the raw annotations


def check_context_parameter(
    what: str, handler: Callable[..., Any], context_type: type, parameters: list[inspect.Parameter]
) -> None:
    """Checks that the first parameter can take the context (by position).

    Raises:
        TypeError: There is none, it is keyword-only or variadic, or it is annotated with a
            type that is not ``context_type`` (say, ``subject: str`` written first).
    """
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if not parameters or parameters[0].kind not in positional:
        raise TypeError(
            f"{what}: the handler's first parameter must take the context ({context_type.__name__})"
        )
    first = parameters[0]
    try:
        hints = _hints(what, handler)
    except TypeError:
        hints = {}  # another annotation does not resolve: that is not this check's business
    annotation = hints.get(first.name, first.annotation)
    annotation, _ = strip_annotated(annotation)
    if _fits(annotation, context_type):
        return
    raise TypeError(
        f"{what}: the first parameter {first.name!r} is annotated {type_name(annotation)}, "
        f"but it receives the {context_type.__name__}; write "
        f"`ctx: {context_type.__name__}` first"
    )


def _fits(annotation: object, context_type: type) -> bool:
    if annotation in (inspect.Parameter.empty, Any, object) or isinstance(annotation, str):
        return True  # not annotated, or a forward reference that did not resolve
    if isinstance(annotation, type) and typing.get_origin(annotation) is None:
        try:
            return issubclass(annotation, context_type) or issubclass(context_type, annotation)
        except TypeError:
            return True  # a Protocol that cannot be checked: trust it
    # A Protocol or TypeVar may describe the context; a Literal, union or alias does not.
    return isinstance(annotation, typing.TypeVar)


def form_parameters(
    what: str, handler: Callable[..., Any], context_type: type
) -> list[HandlerParameter]:
    """Returns the parameters after the context, ready to map to form inputs.

    Raises:
        TypeError: The first parameter cannot take the context, a parameter is variadic or
            positional-only, lacks an annotation, or uses a union other than ``X | None``.
    """
    parameters = list(_signature(what, handler).parameters.values())
    check_context_parameter(what, handler, context_type, parameters)
    hints = _hints(what, handler)
    result = []
    for parameter in parameters[1:]:
        where = f"{what}, parameter {parameter.name!r}"
        if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            raise TypeError(f"{where}: *args and **kwargs are not supported; read ctx.inputs")
        if parameter.kind is inspect.Parameter.POSITIONAL_ONLY:
            raise TypeError(f"{where}: inputs are passed by keyword, not positional-only")
        annotation = hints.get(parameter.name, parameter.annotation)
        if annotation is inspect.Parameter.empty:
            raise TypeError(f"{where}: needs a type annotation")
        annotation, optional, metadata = _unwrap(where, annotation)
        result.append(
            HandlerParameter(parameter.name, annotation, optional, metadata, parameter.default)
        )
    return result


def _unwrap(where: str, annotation: object) -> tuple[object, bool, tuple[object, ...]]:
    """Takes ``Annotated`` and ``X | None`` apart: (X, optional, metadata innermost first)."""
    annotation, metadata = strip_annotated(annotation)
    optional = False
    if typing.get_origin(annotation) in (Union, types.UnionType):
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        optional = len(members) < len(typing.get_args(annotation))
        if len(members) != 1:
            raise TypeError(f"{where}: unions other than `X | None` are not supported")
        annotation, inner = strip_annotated(members[0])
        metadata = inner + metadata
    return annotation, optional, metadata


def strip_annotated(annotation: object) -> tuple[object, tuple[object, ...]]:
    """Returns ``Annotated[X, ...]`` as (X, its metadata); other annotations unchanged."""
    if typing.get_origin(annotation) is Annotated:
        args = typing.get_args(annotation)
        return args[0], tuple(args[1:])
    return annotation, ()


def type_name(annotation: object) -> str:
    """A readable name of an annotation, for messages."""
    return getattr(annotation, "__name__", None) or repr(annotation)
