"""What handlers return: a ``Result``, a ``File`` download, or select ``Option`` lists.

An action handler may also return plain values, mapped to Jet's response like this:

| returned | Jet receives |
|---|---|
| ``None`` or ``True`` | ``{"result": true}`` |
| ``False`` | ``{"result": false}`` |
| a dict | its ``"result"`` (default true), ``"message"``, ``"html"`` and other keys |
| ``Result`` | its fields |
| ``File`` | a file download |
| any other JSON value | ``{"result": value}`` |
"""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["File", "Option", "Result"]

# A private table built from Python's own defaults: the guess is the same on every machine
# (the system's mime.types files are not read) and building it here, at import time, keeps
# the first guess from reading files inside the event loop.
_MIME_TYPES = mimetypes.MimeTypes()
_DEFAULT_CONTENT_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class Result:
    """The JSON object Jet Admin receives after a successful run.

    Args:
        value: The ``result`` value; any JSON value, true by default.
        message: Plain text shown to the user.
        html: HTML shown to the user instead of ``message``.
        extra: Further keys merged into the object Jet receives.
    """

    value: object = True
    message: str | None = None
    html: str | None = None
    extra: Mapping[str, object] | None = None


@dataclass(frozen=True, init=False)
class File:
    """A file the browser downloads.

    Args:
        filename: The name the browser saves the file under.
        content: The bytes; a ``str`` is encoded as UTF-8.
        content_type: The MIME type; guessed from ``filename`` when omitted, and
            ``application/octet-stream`` when the guess fails.
    """

    filename: str
    content: bytes
    content_type: str

    def __init__(
        self, filename: str, content: bytes | str, content_type: str | None = None
    ) -> None:
        if content_type is None:
            content_type = _MIME_TYPES.guess_type(filename, strict=False)[0]
        # A frozen dataclass only allows assignment through object.__setattr__.
        object.__setattr__(self, "filename", filename)
        object.__setattr__(
            self, "content", content.encode() if isinstance(content, str) else bytes(content)
        )
        object.__setattr__(self, "content_type", content_type or _DEFAULT_CONTENT_TYPE)


@dataclass(frozen=True)
class Option:
    """One choice of a select field.

    Args:
        value: The value stored when the option is picked; any JSON value.
        name: The text shown for the option.
        color: The colour of the option's badge (a CSS colour or a Jet colour name).
    """

    value: object
    name: str
    color: str = ""
