"""Client-credentials tokens for calling the llm-proxy, cached until shortly before expiry."""

from __future__ import annotations

import asyncio
import time

import httpx

from codelab_runtime.errors import TokenError

# Refresh this long before expiry so a token never expires in flight.
_EXPIRY_MARGIN_S = 30.0


class ClientCredentialsTokens:
    """Fetches ``grant_type=client_credentials`` tokens (client_secret_basic) and caches one."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        scope: str,
        resource: str,
    ) -> None:
        self._http = http
        self._token_url = token_url
        self._auth = httpx.BasicAuth(client_id, client_secret)
        self._form = {"grant_type": "client_credentials", "scope": scope, "resource": resource}
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    async def token(self) -> str:
        """A valid access token, fetching a new one only when the cached one is about to expire."""
        async with self._lock:
            if self._token is None or time.monotonic() >= self._expires_at:
                await self._fetch()
            assert self._token is not None
            return self._token

    def invalidate(self) -> None:
        """Forget the cached token (the proxy said 401: it may have been revoked)."""
        self._token = None

    async def _fetch(self) -> None:
        try:
            response = await self._http.post(self._token_url, data=self._form, auth=self._auth)
        except httpx.HTTPError as exc:
            raise TokenError(f"token endpoint unreachable: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise TokenError(f"token endpoint answered {response.status_code}")
        body = response.json()
        token = body.get("access_token")
        if not isinstance(token, str):
            raise TokenError("token endpoint returned no access_token")
        expires_in = float(body.get("expires_in", 300))
        self._token = token
        self._expires_at = time.monotonic() + max(expires_in - _EXPIRY_MARGIN_S, expires_in / 2)
