"""The credentials of an Authorization header, as Jet Admin sends them (PROTOCOL.md section 4).

`Authorization: <Scheme> <value>[;key=value...]`, possibly several comma-separated credentials,
of which a `JWT` one wins. The value never reaches a repr or a log: a short fingerprint (a hash
prefix) identifies it when one is needed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from jetactions.contract import AUTH_SCHEMES

__all__ = ["BEARER", "JWT", "PROJECT_TOKEN", "TOKEN", "Credential", "digest", "parse_authorization"]

JWT = "JWT"
TOKEN = "Token"
PROJECT_TOKEN = "ProjectToken"
BEARER = "Bearer"
# Schemes are case-insensitive (RFC 9110 section 11.1); the canonical spelling is Jet's.
_SCHEMES = {scheme.lower(): scheme for scheme in AUTH_SCHEMES}


def digest(text: str) -> str:
    """A hex SHA-256 of `text`: how credentials are keyed in caches and named in logs."""
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Credential:
    """One credential of an Authorization header."""

    scheme: str
    """JWT, Token, ProjectToken or Bearer, in Jet's spelling."""
    value: str = field(repr=False)
    """The token or key; kept out of repr so it cannot reach a log by accident."""
    params: Mapping[str, str] = field(default_factory=dict)
    """The `;key=value` pairs after the value (Jet sends `project_child`)."""

    def fingerprint(self) -> str:
        """A short hash of the value that identifies it in logs without revealing it."""
        return digest(self.value)[:10]


def parse_authorization(header: str) -> Credential | None:
    """The credential to check in an Authorization header, or None when it holds none.

    Several comma-separated credentials may be sent; a JWT one wins, as in the reference
    server, else the first one of a known scheme.
    """
    found = [credential for part in header.split(",") if (credential := _parse_one(part))]
    for credential in found:
        if credential.scheme == JWT:
            return credential
    return found[0] if found else None


def _parse_one(part: str) -> Credential | None:
    scheme, _, data = part.strip().partition(" ")
    canonical = _SCHEMES.get(scheme.lower())
    value, *pairs = data.strip().split(";")
    if canonical is None or not value.strip():
        return None
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, item = pair.partition("=")
        if sep and key.strip():
            params[key.strip()] = item.strip()
    return Credential(canonical, value.strip(), params)
