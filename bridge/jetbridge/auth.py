"""Checking Jet Admin's Authorization header, and saying who the caller is.

Jet Admin's front end sends `Authorization: <Scheme> <value>[;key=value...]`, possibly several
comma-separated credentials, of which a `JWT` one wins (PROTOCOL.md section 4):

- `JWT <token>`: RS256 only, verified with JWT_VERIFY_KEY (Jet Admin's key by default), `exp`
  required and enforced, and the `projects` claim must grant PROJECT. Accepted tokens are
  remembered (until `exp`, at most the cache TTL): the signature check is the costly part.
- `Token <t>` / `ProjectToken <t>`: asked to Jet Admin's API (`POST <API_BASE_URL>/project_auth/`),
  with the outcome cached per token and concurrent identical questions asked once.
- `Bearer <key>`: one of the configured static keys, compared in constant time.

401 means no or unparsable credentials, 403 a well-formed credential that is not allowed, 503
that Jet Admin's API could not be asked (the request fails closed). Credentials are never logged;
a short fingerprint (a hash prefix) identifies a token in the log when one is needed.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import AsyncIterator, Mapping
from importlib import resources
from typing import Any

import jwt
from aiohttp import hdrs, web
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from jetactions.contract import AUTH_SCHEMES
from jetactions.v1 import actions_pb2
from jetbridge.config import Auth
from jetbridge.convert import fill_struct, too_deep
from jetbridge.credentials import (
    BEARER,
    JWT,
    PROJECT_TOKEN,
    TOKEN,
    Credential,
    digest,
    parse_authorization,
)
from jetbridge.errors import BridgeError
from jetbridge.jet_api import JetTokenChecker
from jetbridge.ttl_cache import TtlCache

__all__ = ["Authenticator", "caller_from_claims", "configured_methods", "default_verify_key_pem"]

log = logging.getLogger(__name__)

# Jet Admin signs with RS256; every other algorithm (none, HS256 keyed with the public key,
# RS512, ES256, ...) is refused, whatever the token's header says.
_ALGORITHMS = ["RS256"]
_MAX_CLAIMS_DEPTH = 16

# Read once at import, never inside a request (file I/O would block the event loop).
_DEFAULT_KEY_PEM = (
    resources.files("jetbridge").joinpath("data", "jet_admin_public_key.pem").read_text()
)


def default_verify_key_pem() -> str:
    """Jet Admin's public key, shipped with the package: the default JWT_VERIFY_KEY."""
    return _DEFAULT_KEY_PEM


def configured_methods(settings: Auth) -> list[str]:
    """The credential schemes the bridge accepts with `settings`, for logs and the start check."""
    methods = []
    if settings.project:
        methods.append(JWT)
    if settings.token:
        methods += [TOKEN, PROJECT_TOKEN]
    if settings.bearer_keys:
        methods.append(BEARER)
    return methods


def _unauthenticated(detail: str) -> BridgeError:
    return BridgeError(401, detail, code="UNAUTHENTICATED")


def _denied(detail: str) -> BridgeError:
    return BridgeError(403, detail, code="PERMISSION_DENIED")


class Authenticator:
    """Turns a request's credentials into the Caller sent to action servers."""

    def __init__(self, settings: Auth) -> None:
        self.settings = settings
        pem = settings.jwt_verify_key or _DEFAULT_KEY_PEM
        key = load_pem_public_key(pem.encode())
        if not isinstance(key, rsa.RSAPublicKey):  # config validation already refuses this
            raise ValueError("JWT_VERIFY_KEY must be an RSA public key")
        self.verify_key = key
        self._bearer_keys = tuple(bearer.encode() for bearer in settings.bearer_keys)
        # Verifying with Jet's 4096-bit key costs ~110 µs, as much as the gRPC hop, and the
        # browser sends the same JWT again and again: accepted ones are remembered.
        self._jwts: TtlCache[actions_pb2.Caller] = TtlCache(settings.cache_size)
        # The whole header of an accepted JWT or Bearer credential, by digest: parsing, hashing
        # the token and copying its Caller again cost as much as the rest of a get_action_list.
        self._accepted: TtlCache[actions_pb2.Caller] = TtlCache(settings.cache_size)
        self.jet_tokens = JetTokenChecker(settings)

    async def lifespan(self, app: web.Application) -> AsyncIterator[None]:
        """For `app.cleanup_ctx`: closes the HTTP client of Jet's API when the app stops."""
        yield
        await self.jet_tokens.close()

    async def authenticate(self, request: web.Request) -> actions_pb2.Caller:
        """The caller of `request`, or a 401/403/503 BridgeError.

        Requests with the same accepted header share one Caller: read it, never change it.
        """
        if self.settings.disabled:
            return actions_pb2.Caller()
        header = request.headers.get(hdrs.AUTHORIZATION, "")
        if not header.strip():
            raise _unauthenticated("Authentication credentials were not provided")
        if not header.isascii():
            # Every scheme's credentials are ASCII; other bytes cannot be hashed or compared.
            raise _unauthenticated("The Authorization header must be ASCII")
        key = digest(header)
        known = self._accepted.get(key)
        if known is not None:
            return known
        credential = parse_authorization(header)
        if credential is None:
            raise _unauthenticated(
                "The Authorization header holds no credential the bridge understands; "
                "expected JWT, Token, ProjectToken or Bearer"
            )
        caller = await self._check(credential)
        if self.settings.forward_token:
            caller.token = credential.value
        self._accepted.put(key, caller, self._reuse_for(credential))
        return caller

    def _reuse_for(self, credential: Credential) -> float:
        """How long an accepted credential's Caller may serve without a new check: a Bearer key
        for the cache TTL (keys change only with the settings), a JWT as long as its own cache
        entry (never past `exp`); Jet's tokens are left to JetTokenChecker's cache."""
        if credential.scheme == BEARER:
            return self.settings.cache_ttl
        if credential.scheme == JWT:
            return self._jwts.ttl(digest(credential.value))
        return 0.0

    async def _check(self, credential: Credential) -> actions_pb2.Caller:
        if credential.scheme == JWT:
            return self._jwt(credential.value)
        if credential.scheme == BEARER:
            return self._bearer(credential.value)
        return await self._jet_token(credential)

    def _jwt(self, token: str) -> actions_pb2.Caller:
        if not self.settings.project:
            raise _denied("JWT authentication is not configured on the bridge (set PROJECT)")
        key = digest(token)
        accepted = self._jwts.get(key)
        if accepted is None:
            claims = self._verified_claims(token)
            if not _grants(claims.get("projects"), self.settings.project):
                raise _denied(f"This JWT gives no access to project {self.settings.project!r}")
            try:
                # Signed is not sane: a 400-digit number or 200 levels of nesting cannot travel.
                if too_deep(claims, _MAX_CLAIMS_DEPTH):
                    raise ValueError("nested too deep")
                accepted = caller_from_claims(claims, self.settings)
                # Never past the token's own expiry (with the leeway the check allowed).
                expires_in = float(claims["exp"]) + self.settings.jwt_leeway - time.time()
            except (ValueError, TypeError, OverflowError):
                raise _unauthenticated("The JWT's claims are too large or too deep") from None
            self._jwts.put(key, accepted, min(expires_in, self.settings.cache_ttl))
        caller = actions_pb2.Caller()
        caller.CopyFrom(accepted)  # the cached one stays untouched by later changes
        return caller

    def _verified_claims(self, token: str) -> dict[str, Any]:
        try:
            return jwt.decode(
                token,
                self.verify_key,
                algorithms=_ALGORITHMS,
                leeway=self.settings.jwt_leeway,
                options={"require": ["exp"]},
            )
        # Fixed messages: PyJWT's own may quote parts of the token.
        except jwt.InvalidSignatureError:
            raise _denied("The JWT's signature does not match JWT_VERIFY_KEY") from None
        except jwt.DecodeError:
            raise _unauthenticated("The JWT is malformed") from None
        except jwt.ExpiredSignatureError:
            raise _denied("The JWT has expired") from None
        except jwt.InvalidAlgorithmError:
            raise _denied("The JWT's algorithm is not RS256, the one Jet Admin uses") from None
        except jwt.MissingRequiredClaimError:
            raise _denied("The JWT has no expiry (exp claim)") from None
        except jwt.ImmatureSignatureError:
            raise _denied("The JWT is not valid yet") from None
        except jwt.PyJWTError:  # InvalidTokenError and anything PyJWT adds later
            raise _denied("The JWT is not valid") from None

    def _bearer(self, key: str) -> actions_pb2.Caller:
        if not self._bearer_keys:
            raise _denied("Bearer authentication is not configured on the bridge")
        candidate = key.encode()
        matched = False
        # Every configured key is compared, so the time taken says nothing about which matched.
        for known in self._bearer_keys:
            matched |= hmac.compare_digest(candidate, known)
        if not matched:
            raise _denied("The Bearer key is not valid")
        return self._caller(BEARER)

    async def _jet_token(self, credential: Credential) -> actions_pb2.Caller:
        if not self.settings.token:
            raise _denied(
                f"{credential.scheme} authentication is not configured on the bridge (set TOKEN)"
            )
        if not await self.jet_tokens.allowed(credential):
            raise _denied(f"Jet Admin refused this {credential.scheme} for the project")
        return self._caller(credential.scheme)

    def _caller(self, scheme: str) -> actions_pb2.Caller:
        return actions_pb2.Caller(
            auth_method=AUTH_SCHEMES[scheme],
            project=self.settings.project,
            environment=self.settings.environment,
        )


def _grants(projects: Any, project: str) -> bool:
    """Whether a JWT's `projects` claim grants `project`.

    Jet sends an object keyed by project name (the reference requires a non-null entry); a
    plain list of names is accepted too, anything else grants nothing.
    """
    if isinstance(projects, Mapping):
        return projects.get(project) is not None
    if isinstance(projects, list):
        return project in projects
    return False


def caller_from_claims(claims: Mapping[str, Any], settings: Auth) -> actions_pb2.Caller:
    """The Caller of a verified JWT: who, in which project and environment, and every claim.

    Claims are read defensively: `user` may be an id or an object with `id`/`email`, `project`
    and `environment` a name or an object with `unique_name`/`name`. PROJECT and ENVIRONMENT
    fill in what the token does not say.
    """
    user = claims.get("user")
    user_object: Mapping[str, Any] = user if isinstance(user, Mapping) else {}
    caller = actions_pb2.Caller(
        auth_method=actions_pb2.AUTH_METHOD_JWT,
        user_id=_first_text(
            user_object.get("id"),
            user_object.get("uid"),
            user_object.get("pk"),
            None if user_object else user,
            claims.get("user_id"),
            claims.get("sub"),
        ),
        user_email=_first_text(
            user_object.get("email"), claims.get("email"), claims.get("user_email")
        ),
        project=_name(claims.get("project")) or settings.project,
        environment=_name(claims.get("environment")) or settings.environment,
    )
    fill_struct(caller.claims, dict(claims))
    return caller


def _text(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str | int | float):
        return str(value)
    return ""


def _first_text(*values: Any) -> str:
    return next((text for value in values if (text := _text(value))), "")


def _name(value: Any) -> str:
    if isinstance(value, Mapping):
        return _first_text(value.get("unique_name"), value.get("name"), value.get("id"))
    return _text(value)
