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

import asyncio
import hashlib
import hmac
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Generic, TypeVar

import aiohttp
import jwt
from aiohttp import hdrs, web
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from jetactions.contract import AUTH_SCHEMES
from jetactions.v1 import actions_pb2
from jetbridge import __version__
from jetbridge.config import Settings
from jetbridge.convert import fill_struct, too_deep
from jetbridge.errors import BridgeError

__all__ = [
    "BEARER",
    "JWT",
    "PROJECT_TOKEN",
    "TOKEN",
    "Authenticator",
    "Credential",
    "JetTokenChecker",
    "TtlCache",
    "caller_from_claims",
    "configured_methods",
    "default_verify_key_pem",
    "parse_authorization",
]

log = logging.getLogger(__name__)

JWT = "JWT"
TOKEN = "Token"
PROJECT_TOKEN = "ProjectToken"
BEARER = "Bearer"
# Schemes are case-insensitive (RFC 9110 section 11.1); the canonical spelling is Jet's.
_SCHEMES = {scheme.lower(): scheme for scheme in (JWT, TOKEN, PROJECT_TOKEN, BEARER)}
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


def configured_methods(settings: Settings) -> list[str]:
    """The credential schemes the bridge accepts with `settings`, for logs and the start check."""
    methods = []
    if settings.project:
        methods.append(JWT)
    if settings.token:
        methods += [TOKEN, PROJECT_TOKEN]
    if settings.bearer_auth_key:
        methods.append(BEARER)
    return methods


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
        return _digest(self.value)[:10]


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


def _unauthenticated(detail: str) -> BridgeError:
    return BridgeError(401, detail, code="UNAUTHENTICATED")


def _denied(detail: str) -> BridgeError:
    return BridgeError(403, detail, code="PERMISSION_DENIED")


class Authenticator:
    """Turns a request's credentials into the Caller sent to action servers."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        pem = settings.jwt_verify_key or _DEFAULT_KEY_PEM
        key = load_pem_public_key(pem.encode())
        if not isinstance(key, rsa.RSAPublicKey):  # config validation already refuses this
            raise ValueError("JWT_VERIFY_KEY must be an RSA public key")
        self.verify_key = key
        self._bearer_keys = tuple(bearer.encode() for bearer in settings.bearer_auth_key)
        # Verifying with Jet's 4096-bit key costs ~110 µs, as much as the gRPC hop, and the
        # browser sends the same JWT again and again: accepted ones are remembered.
        self._jwts: TtlCache[actions_pb2.Caller] = TtlCache(settings.auth_cache_size)
        # The whole header of an accepted JWT or Bearer credential, by digest: parsing, hashing
        # the token and copying its Caller again cost as much as the rest of a get_action_list.
        self._accepted: TtlCache[actions_pb2.Caller] = TtlCache(settings.auth_cache_size)
        self.jet_tokens = JetTokenChecker(settings)

    async def lifespan(self, app: web.Application) -> AsyncIterator[None]:
        """For `app.cleanup_ctx`: closes the HTTP client of Jet's API when the app stops."""
        yield
        await self.jet_tokens.close()

    async def authenticate(self, request: web.Request) -> actions_pb2.Caller:
        """The caller of `request`, or a 401/403/503 BridgeError.

        Requests with the same accepted header share one Caller: read it, never change it.
        """
        if self.settings.disable_auth:
            return actions_pb2.Caller()
        header = request.headers.get(hdrs.AUTHORIZATION, "")
        if not header.strip():
            raise _unauthenticated("Authentication credentials were not provided")
        if not header.isascii():
            # Every scheme's credentials are ASCII; other bytes cannot be hashed or compared.
            raise _unauthenticated("The Authorization header must be ASCII")
        key = _digest(header)
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
            return self.settings.auth_cache_ttl
        if credential.scheme == JWT:
            return self._jwts.ttl(_digest(credential.value))
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
        key = _digest(token)
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
            self._jwts.put(key, accepted, min(expires_in, self.settings.auth_cache_ttl))
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


def caller_from_claims(claims: Mapping[str, Any], settings: Settings) -> actions_pb2.Caller:
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


V = TypeVar("V")


class TtlCache(Generic[V]):
    """A bounded least-recently-used map whose entries expire (monotonic clock)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, tuple[float, V]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: str) -> V | None:
        """The live value under `key`, or None."""
        item = self._items.get(key)
        if item is None:
            return None
        if item[0] <= time.monotonic():
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return item[1]

    def ttl(self, key: str) -> float:
        """Seconds `key` stays live; 0 when absent or expired."""
        item = self._items.get(key)
        return 0.0 if item is None else max(0.0, item[0] - time.monotonic())

    def put(self, key: str, value: V, ttl: float) -> None:
        """Keep `value` for `ttl` seconds (not at all when `ttl` <= 0)."""
        if ttl <= 0:
            return
        self._items[key] = (time.monotonic() + ttl, value)
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class _Unavailable(Exception):
    """Jet Admin's API could not give an answer; the message says why, without the token."""


class JetTokenChecker:
    """Asks Jet Admin's API whether a Token/ProjectToken may use the project, with a cache.

    Outcomes are cached per credential for `auth_cache_ttl` (allowed) or
    `auth_failure_cache_ttl` (refused) seconds in a bounded LRU map keyed by a hash of the
    credential. Concurrent questions about the same credential share one call. When the API
    cannot be reached or answers 5xx the request fails closed with a 503, and nothing is cached,
    so the next request asks again.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = f"{settings.api_base_url}/project_auth/"
        self._cache: TtlCache[bool] = TtlCache(settings.auth_cache_size)
        self._pending: dict[str, asyncio.Task[bool]] = {}
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        """Close the HTTP client, if one was opened."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def allowed(self, credential: Credential) -> bool:
        """Whether Jet Admin's API allows `credential`; raises a 503 BridgeError when it is down."""
        key = self._key(credential)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        task = self._pending.get(key)
        if task is None:
            task = asyncio.create_task(self._lookup(key, credential))
            self._pending[key] = task
            task.add_done_callback(lambda done: self._finished(key, done))
        # Shielded: a client that goes away must not cancel the answer others are waiting for.
        return await asyncio.shield(task)

    def _finished(self, key: str, task: asyncio.Task[bool]) -> None:
        if self._pending.get(key) is task:
            del self._pending[key]
        if not task.cancelled():
            task.exception()  # retrieved here, so a waiter-less failure is not reported twice

    @staticmethod
    def _key(credential: Credential) -> str:
        child = credential.params.get("project_child", "")
        return _digest(f"{credential.scheme}\0{child}\0{credential.value}")

    async def _lookup(self, key: str, credential: Credential) -> bool:
        try:
            allowed = await self._ask(credential)
        except _Unavailable as why:
            log.warning(
                "could not check a %s credential (fingerprint %s) with Jet Admin's API: %s",
                credential.scheme,
                credential.fingerprint(),
                why,
            )
            raise BridgeError(
                503,
                "Could not verify the credentials with Jet Admin's API; try again shortly",
                code="UNAVAILABLE",
            ) from None
        ttl = self.settings.auth_cache_ttl if allowed else self.settings.auth_failure_cache_ttl
        self._cache.put(key, allowed, ttl)
        log.debug(
            "Jet Admin's API %s a %s credential (fingerprint %s)",
            "allowed" if allowed else "refused",
            credential.scheme,
            credential.fingerprint(),
        )
        return allowed

    async def _ask(self, credential: Credential) -> bool:
        """One call of `project_auth`, as the reference server makes it."""
        data = {"project_token": self.settings.token, "token": credential.value}
        if "project_child" in credential.params:
            data["project_child"] = credential.params["project_child"]
        timeout = self.settings.auth_timeout
        try:
            async with self._client().post(
                self.url,
                data=data,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as response:
                return await _outcome(response)
        except TimeoutError:
            raise _Unavailable(f"no answer within {timeout:g} s") from None
        except aiohttp.ClientError as error:
            raise _Unavailable(f"{type(error).__name__}: {error}") from None

    def _client(self) -> aiohttp.ClientSession:
        # Created on first use, so inside the running loop that serves the requests.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers={"User-Agent": f"jetbridge v{__version__}"}
            )
        return self._session


async def _outcome(response: aiohttp.ClientResponse) -> bool:
    """Allowed on 2xx without `access_disabled`; refused on other 4xx; unavailable otherwise."""
    status = response.status
    if status == 429 or status >= 500 or status < 200 or 300 <= status < 400:
        raise _Unavailable(f"it answered HTTP {status}")
    if status >= 400:
        return False
    try:
        body = await response.json(content_type=None)
    except ValueError:
        raise _Unavailable("its answer is not JSON") from None
    if not isinstance(body, dict):
        raise _Unavailable("its answer is not a JSON object")
    return not body.get("access_disabled")
