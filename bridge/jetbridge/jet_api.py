"""Jet Admin's API, asked whether a Token or ProjectToken may use the project.

`POST <API_BASE_URL>/project_auth/` as the reference server calls it, with the outcome cached per
credential and concurrent identical questions asked once; when the API cannot answer, the
request fails closed (503) and nothing is cached.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp

from jetbridge import __version__
from jetbridge.config import Auth
from jetbridge.credentials import Credential, digest
from jetbridge.errors import BridgeError
from jetbridge.ttl_cache import TtlCache

__all__ = ["JetTokenChecker"]

log = logging.getLogger("jetbridge.auth")


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

    def __init__(self, settings: Auth) -> None:
        self.settings = settings
        self.url = f"{settings.api_base_url}/project_auth/"
        self._cache: TtlCache[bool] = TtlCache(settings.cache_size)
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
        return digest(f"{credential.scheme}\0{child}\0{credential.value}")

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
        ttl = self.settings.cache_ttl if allowed else self.settings.failure_cache_ttl
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
        timeout = self.settings.timeout
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
