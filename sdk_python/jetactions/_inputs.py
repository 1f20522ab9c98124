"""Validation and conversion of a form's inputs before the handler runs.

Jet Admin's forms are loose about types (numbers often arrive as strings), so each converter
accepts the forms a browser plausibly sends and rejects the rest with a short, human message
in the style of Django's form errors. Every input is checked and every error collected, so
the user sees all problems at once; the handler only runs when there are none.
"""

from __future__ import annotations

import datetime
import enum
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

REQUIRED = "This field is required."

# Bounds on what a converter accepts, so that a handler never receives a value it cannot
# use: Python refuses to print or parse ints of more than 4,300 digits, and a Decimal such
# as 1e999999999 is valid but overflows (or eats the memory) the moment it is used.
MAX_INT_DIGITS = 4300
MAX_DECIMAL_DIGITS = 100
MAX_DECIMAL_EXPONENT = 308  # the adjusted exponent, in either direction (as for floats)
MAX_NUMBER_TEXT = MAX_INT_DIGITS + 16  # sign, point and exponent on top of the digits
MAX_DATE_TEXT = 64  # the longest ISO 8601 date/time is 32 characters
MAX_JSON_DEPTH = 32  # the nesting a protobuf Value carries everywhere (see _convert)
MAX_ECHO = 40  # characters of a refused value quoted back in an error message

_INTEGER = re.compile(r"[+-]?\d+")
# Plain decimal notation; no "_" separators, "nan" or "inf" as Python's float() would take.
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})


class InvalidInput(ValueError):
    """Raised by a converter; its message is shown on the form."""


Converter = Callable[[object], object]


_INT_LIMIT: int = 10**MAX_INT_DIGITS


def _too_many_digits(value: int) -> bool:
    return abs(value) >= _INT_LIMIT


def to_str(raw: object) -> str:
    """Text; numbers are accepted as their decimal form, like Django's CharField."""
    if isinstance(raw, str):
        return raw
    if isinstance(raw, float) and math.isfinite(raw):
        return str(raw)
    if isinstance(raw, int) and not isinstance(raw, bool) and not _too_many_digits(raw):
        return str(raw)
    raise InvalidInput("Enter a valid text.")


def to_int(raw: object) -> int:
    """A whole number of at most ``MAX_INT_DIGITS`` digits: an int (not a bool), an integral
    float or a string of digits."""
    if isinstance(raw, bool):
        raise InvalidInput("Enter a whole number.")
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)  # at most 309 digits
    if isinstance(raw, str):
        text = raw.strip()
        if len(text.lstrip("+-")) > MAX_INT_DIGITS and _INTEGER.fullmatch(text):
            raise InvalidInput(f"Ensure that there are no more than {MAX_INT_DIGITS} digits.")
        if not _INTEGER.fullmatch(text):
            raise InvalidInput("Enter a whole number.")
        raw = int(text)
    if isinstance(raw, int):
        if _too_many_digits(raw):
            raise InvalidInput(f"Ensure that there are no more than {MAX_INT_DIGITS} digits.")
        return raw
    raise InvalidInput("Enter a whole number.")


def to_float(raw: object) -> float:
    """A finite number, or a string holding one."""
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        try:
            value = float(raw)
        except OverflowError:  # an int beyond the double range
            raise InvalidInput("Enter a number.") from None
    elif isinstance(raw, str) and len(raw) <= MAX_NUMBER_TEXT and _NUMBER.fullmatch(raw.strip()):
        value = float(raw.strip())
    else:
        raise InvalidInput("Enter a number.")
    if not math.isfinite(value):
        raise InvalidInput("Enter a number.")
    return value


def to_decimal(raw: object) -> Decimal:
    """A finite number, or a string holding one, converted exactly and bounded: at most
    ``MAX_DECIMAL_DIGITS`` significant digits and an exponent within ±``MAX_DECIMAL_EXPONENT``.

    Floats go through ``str()`` (their shortest round-trip form), so ``0.1`` becomes
    ``Decimal("0.1")`` and not the double's binary expansion.
    """
    finite_float = isinstance(raw, float) and math.isfinite(raw)
    plain_int = isinstance(raw, int) and not isinstance(raw, bool) and not _too_many_digits(raw)
    if finite_float or plain_int:
        text = str(raw)
    elif isinstance(raw, str) and len(raw) <= MAX_NUMBER_TEXT and _NUMBER.fullmatch(raw.strip()):
        text = raw.strip()
    else:
        raise InvalidInput("Enter a number.")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise InvalidInput("Enter a number.") from None
    if not value.is_finite():
        raise InvalidInput("Enter a number.")
    # Trailing zeros ("1000") add no precision: only the others count as digits.
    _, digits, exponent = value.as_tuple()
    significant = len("".join(map(str, digits)).rstrip("0"))
    if significant > MAX_DECIMAL_DIGITS:
        raise InvalidInput(f"Ensure that there are no more than {MAX_DECIMAL_DIGITS} digits.")
    magnitude = value.adjusted() if value else int(exponent)
    if abs(magnitude) > MAX_DECIMAL_EXPONENT:
        raise InvalidInput(
            f"Enter a number between 1e-{MAX_DECIMAL_EXPONENT} and 1e{MAX_DECIMAL_EXPONENT}."
        )
    return value


def to_bool(raw: object) -> bool:
    """A boolean, or "true"/"false"/"1"/"0" (any case), or the numbers 1 and 0."""
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int | float) and raw in (0, 1):
        return raw == 1
    if isinstance(raw, str):
        text = raw.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise InvalidInput("Enter true or false.")


def to_datetime(raw: object) -> datetime.datetime:
    """An ISO 8601 date and time; a trailing "Z" means UTC."""
    if isinstance(raw, str) and len(raw) <= MAX_DATE_TEXT:
        try:
            return datetime.datetime.fromisoformat(raw.strip())
        except ValueError:
            pass
    raise InvalidInput("Enter a valid date/time.")


def to_date(raw: object) -> datetime.date:
    """An ISO 8601 calendar date."""
    if isinstance(raw, str) and len(raw) <= MAX_DATE_TEXT:
        try:
            return datetime.date.fromisoformat(raw.strip())
        except ValueError:
            pass
    raise InvalidInput("Enter a valid date.")


def to_time(raw: object) -> datetime.time:
    """An ISO 8601 time of day; a trailing "Z" means UTC."""
    if isinstance(raw, str) and len(raw) <= MAX_DATE_TEXT:
        try:
            return datetime.time.fromisoformat(raw.strip())
        except ValueError:
            pass
    raise InvalidInput("Enter a valid time.")


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _depth(value: object, limit: int) -> bool:
    """Whether ``value`` nests no deeper than ``limit`` objects and arrays."""
    if isinstance(value, dict | list):
        if limit == 0:
            return False
        items = value.values() if isinstance(value, dict) else value
        return all(_depth(item, limit - 1) for item in items)
    return True


def _decode_json(raw: object) -> object:
    # A form's JSON editor may send the document as text. NaN and Infinity are not JSON,
    # and a document nested deeper than a protobuf Value can carry is refused here rather
    # than failing the handler's answer (json.loads itself overflows the stack near 1,000).
    if isinstance(raw, str):
        try:
            value = json.loads(raw, parse_constant=_refuse_constant)
        except (ValueError, RecursionError):
            raise InvalidInput("Enter a valid JSON.") from None
    else:
        value = raw
    if not _depth(value, MAX_JSON_DEPTH):
        raise InvalidInput(f"Enter a JSON document nested at most {MAX_JSON_DEPTH} levels deep.")
    return value


def to_json_object(raw: object) -> dict[str, Any]:
    """A JSON object, or text holding one."""
    value = _decode_json(raw)
    if not isinstance(value, dict):
        raise InvalidInput("Enter a JSON object.")
    return value


def to_json_list(raw: object) -> list[Any]:
    """A JSON array, or text holding one."""
    value = _decode_json(raw)
    if not isinstance(value, list):
        raise InvalidInput("Enter a JSON list.")
    return value


def to_any(raw: object) -> object:
    """Any JSON value, unchanged (field types the SDK cannot check)."""
    return raw


def _same(raw: object, choice: object) -> bool:
    # Forms send numbers as strings, so "1" picks the choice 1; bool and int never mix.
    if isinstance(raw, bool) or isinstance(choice, bool):
        return raw is choice
    if raw == choice:
        return True
    return isinstance(raw, str) and not isinstance(choice, str) and raw.strip() == str(choice)


def _invalid_choice(raw: object) -> InvalidInput:
    huge = isinstance(raw, int) and _too_many_digits(raw)
    shown = "the number" if huge else str(raw)
    if len(shown) > MAX_ECHO:  # a huge input must not come back whole in the answer
        shown = shown[: MAX_ECHO - 1] + "…"
    return InvalidInput(f"Select a valid choice. {shown} is not one of the available choices.")


def choice_of(choices: Sequence[object]) -> Converter:
    """One of ``choices`` (a ``Literal``'s values), returned as the choice itself."""

    def convert(raw: object) -> object:
        for choice in choices:
            if _same(raw, choice):
                return choice
        raise _invalid_choice(raw)

    return convert


def member_of(enum_type: type[enum.Enum]) -> Converter:
    """The value of one of ``enum_type``'s members, returned as the member."""
    members = list(enum_type)

    def convert(raw: object) -> object:
        for member in members:
            if _same(raw, member.value):
                return member
        raise _invalid_choice(raw)

    return convert


def restricted(converter: Converter, choices: Sequence[object]) -> Converter:
    """``converter``, then a check that the value is one of the static ``choices``."""

    def convert(raw: object) -> object:
        value = converter(raw)
        if not any(_same(value, choice) for choice in choices):
            raise _invalid_choice(raw)
        return value

    return convert


@dataclass(frozen=True)
class InputRule:
    """How one declared input is checked and handed to the handler.

    Attributes:
        name: The input's name.
        required: A missing value is an error.
        converter: Checks and converts a present value.
        keeps_empty_string: ``""`` is a value (plain text inputs) rather than "missing".
        argument: The input is a handler parameter (else it only lives in ``ctx.inputs``).
        has_default: The handler parameter has a Python default, used when missing.
    """

    name: str
    required: bool
    converter: Converter
    keeps_empty_string: bool
    argument: bool
    has_default: bool


def validate(
    rules: Sequence[InputRule], inputs: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Checks ``inputs`` against ``rules``.

    Returns:
        The handler's keyword arguments and the errors per input; the arguments are only
        meaningful when there are no errors.
    """
    arguments: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for rule in rules:
        raw = inputs.get(rule.name)
        missing = raw is None or (raw == "" and not rule.keeps_empty_string)
        if missing or (raw == "" and rule.required):
            if rule.required:
                errors[rule.name] = [REQUIRED]
            elif rule.argument and not rule.has_default:
                # `X | None` without a default: None is the natural "not given".
                arguments[rule.name] = None
            continue
        try:
            value = rule.converter(raw)
        except InvalidInput as error:
            errors[rule.name] = [str(error)]
            continue
        if rule.argument:
            arguments[rule.name] = value
    return arguments, errors
