"""Exceptions a handler raises to shape the outcome of a call.

``FieldErrors`` ends the call with Jet's field-errors response (the form shows the messages);
``ActionError`` ends it with a gRPC status. Any other exception is a bug in the handler: the
server logs its traceback and the caller only sees INTERNAL "action NAME failed".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import grpc

__all__ = ["NON_FIELD_ERRORS", "ActionError", "FieldErrors"]

NON_FIELD_ERRORS = "non_field_errors"
"""The key Jet uses for errors that belong to no single input."""


class FieldErrors(Exception):
    """Validation errors that Jet Admin shows on the action's form.

    Example:
        ```python
        raise FieldErrors({"amount": ["must be positive"]})
        raise FieldErrors(non_field_errors=["Unknown user id: 7"])
        raise FieldErrors.single("amount", "must be positive")
        ```

    Args:
        errors: Messages per input name; a single string counts as one message. A
            ``"non_field_errors"`` key is merged into ``non_field_errors``.
        non_field_errors: Messages not tied to one input.

    Raises:
        ValueError: No message was given at all.
    """

    fields: dict[str, list[str]]
    """Messages per input name."""
    non_field_errors: list[str]
    """Messages not tied to one input."""

    def __init__(
        self,
        errors: Mapping[str, str | Iterable[str]] | None = None,
        *,
        non_field_errors: Iterable[str] = (),
    ) -> None:
        fields: dict[str, list[str]] = {}
        general = list(non_field_errors)
        for name, messages in (errors or {}).items():
            listed = [messages] if isinstance(messages, str) else list(messages)
            if name == NON_FIELD_ERRORS:
                general.extend(listed)
            else:
                fields.setdefault(name, []).extend(listed)
        if not general and not any(fields.values()):
            raise ValueError("FieldErrors needs at least one message")
        self.fields = fields
        self.non_field_errors = general
        super().__init__(self.as_dict())

    @classmethod
    def single(cls, field: str, message: str) -> FieldErrors:
        """Returns the errors made of one message on one input."""
        return cls({field: [message]})

    def as_dict(self) -> dict[str, list[str]]:
        """Returns Jet's shape: messages per input, plus ``non_field_errors`` when present."""
        result = {name: list(messages) for name, messages in self.fields.items()}
        if self.non_field_errors:
            result[NON_FIELD_ERRORS] = list(self.non_field_errors)
        return result


class ActionError(Exception):
    """Ends the call with a gRPC status instead of an outcome.

    The bridge turns the status into an HTTP error for Jet Admin, so use it for failures that
    are not about the form's inputs (for those raise ``FieldErrors``). ``ActionTester`` raises
    it for every call that ends with a status.

    Example:
        ```python
        raise ActionError(grpc.StatusCode.UNAVAILABLE, "the mail server is down")
        ```

    Args:
        code: The gRPC status code; anything but OK.
        message: The status details the caller sees.
    """

    code: grpc.StatusCode
    """The gRPC status code."""
    message: str
    """The status details."""

    def __init__(self, code: grpc.StatusCode, message: str = "") -> None:
        if code is grpc.StatusCode.OK:
            raise ValueError("ActionError needs an error status, not OK")
        self.code = code
        self.message = message
        super().__init__(f"{code.name}: {message}" if message else code.name)
