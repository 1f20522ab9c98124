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
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["File", "Option", "Result"]

# A private table built from Python's own defaults: the guess is the same on every machine
# (the system's mime.types files are not read) and building it here, at import time, keeps
# the first guess from reading files inside the event loop.
_MIME_TYPES = mimetypes.MimeTypes()
_DEFAULT_CONTENT_TYPE = "application/octet-stream"

MAX_FILENAME_BYTES = 255
"""The longest file name, in UTF-8 bytes (what most file systems allow)."""

_DEFAULT_FILENAME = "download"
# RFC 9110 media type: type "/" subtype *( OWS ";" OWS name "=" ( token / quoted-string ) ).
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED = r'"(?:[\t !#-\[\]-~]|\\[\t -~])*"'
_MEDIA_TYPE = re.compile(rf"{_TOKEN}/{_TOKEN}(?:[ \t]*;[ \t]*{_TOKEN}=(?:{_TOKEN}|{_QUOTED}))*")
_MAX_CONTENT_TYPE = 255
# Characters that reorder or hide text (bidi controls, RFC 9839's "problematic" set): a name
# like "invoice\u202etxt.exe" shows as "invoiceexe.txt".
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_MAX_EXTENSION = 16


def content_type_of(value: str) -> str:
    """Returns ``value`` checked as an HTTP media type (``text/csv; charset=utf-8``).

    Raises:
        ValueError: ``value`` is not ``type/subtype`` with optional ``; name=value``
            parameters, holds a control character (CR, LF, ...), or is over 255 characters.
    """
    if not isinstance(value, str):
        raise TypeError(f"File content_type must be a str, not {type(value).__name__}")
    text = value.strip(" \t")
    if len(text) > _MAX_CONTENT_TYPE or not _MEDIA_TYPE.fullmatch(text):
        shown = repr(value if len(value) <= 80 else value[:79] + "…")
        raise ValueError(
            f"File content_type {shown} is not a media type such as 'text/csv' or "
            "'text/csv; charset=utf-8' (no control characters, at most 255 characters)"
        )
    return text


def safe_filename(name: str) -> str:
    """Returns ``name`` as a file name a browser can save as is and a user reads truthfully.

    Control characters (CR, LF, NUL, ...), bidi controls, and path separators are removed,
    surrounding spaces and dots trimmed, and the name cut to ``MAX_FILENAME_BYTES`` UTF-8
    bytes, keeping its extension. An empty result becomes ``"download"``.
    """
    if not isinstance(name, str):
        raise TypeError(f"File filename must be a str, not {type(name).__name__}")
    kept = "".join(
        char
        for char in name
        if char not in _BIDI and char not in "/\\" and unicodedata.category(char) != "Cc"
    )
    kept = kept.strip(" .")
    if not kept:
        return _DEFAULT_FILENAME
    if len(kept.encode()) <= MAX_FILENAME_BYTES:
        return kept
    stem, dot, extension = kept.rpartition(".")
    if not dot or not stem or len(extension) > _MAX_EXTENSION:
        stem, extension = kept, ""
    suffix = f".{extension}" if extension else ""
    room = MAX_FILENAME_BYTES - len(suffix.encode())
    # Cut on a character boundary: decoding with "ignore" drops a split character.
    cut = stem.encode()[:room].decode(errors="ignore").rstrip(" .")
    return (cut or _DEFAULT_FILENAME) + suffix


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
        filename: The name the browser saves the file under, made safe by
            ``safe_filename`` (control and bidi characters and path separators removed, at
            most 255 UTF-8 bytes with the extension kept).
        content: The bytes; a ``str`` is encoded as UTF-8.
        content_type: The media type, parameters allowed (``"text/csv; charset=utf-8"``);
            guessed from ``filename`` when omitted, and ``application/octet-stream`` when the
            guess fails.

    Raises:
        ValueError: ``content_type`` is not a valid media type (see ``content_type_of``).
    """

    filename: str
    content: bytes
    content_type: str

    def __init__(
        self, filename: str, content: bytes | str, content_type: str | None = None
    ) -> None:
        filename = safe_filename(filename)
        if content_type is None:
            content_type = _MIME_TYPES.guess_type(filename, strict=False)[0]
        elif content_type:  # "" means application/octet-stream, as it always has
            content_type = content_type_of(content_type)
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
