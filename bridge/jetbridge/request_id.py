"""The request id: one per HTTP request, taken from the caller when sane, else made here.

It travels back in the `X-Request-ID` response header and every JSON error body, on to the
action server in `x-request-id` metadata, and into the access log and the trace.
"""

from __future__ import annotations

import random
import re

from jetactions.contract import REQUEST_ID_METADATA

HEADER = "X-Request-ID"
METADATA_KEY = REQUEST_ID_METADATA
"""The gRPC metadata key (lower case, as gRPC requires); actions.proto documents it."""

# What a proxy or a browser plausibly sends; anything else (too long, spaces, quotes, control
# characters) is replaced rather than echoed into logs, headers and metadata.
_SANE = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def request_id(incoming: str | None) -> str:
    """`incoming` when it is 1-128 characters of `[A-Za-z0-9._:-]`, else a new random id."""
    if incoming and _SANE.fullmatch(incoming):
        return incoming
    return new_request_id()


def new_request_id() -> str:
    """32 random hex digits. Not a secret, so not from os.urandom: a system call per request
    costs more than the rest of this module."""
    return f"{random.getrandbits(128):032x}"
