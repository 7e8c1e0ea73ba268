"""OAuth 2.0 against CodeLab's auth service: discovery, login flows, refresh.

A login flow is anything with ``async obtain(oauth) -> TokenResponse``; the password
grant is the first, browser PKCE and the device flow slot in beside it.
"""

from __future__ import annotations

import time
from typing import Protocol

import httpx
from pydantic import BaseModel, SecretStr, ValidationError

from codelab_client.credentials import Credentials, CredentialStore, normalize_server
from codelab_client.dpop import AccessToken, DpopKey
from codelab_client.errors import AuthError, ConnectionFailed, LoginRequired

CLIENT_ID = "codelab-cli"
DEFAULT_SCOPE = "sessions:read sessions:write"
DISCOVERY_PATH = "/auth/.well-known/openid-configuration"
FALLBACK_TOKEN_PATH = "/auth/oauth/token"
# Refresh this long before expiry, so a token never dies between check and use.
REFRESH_MARGIN_SECONDS = 60.0


class TokenResponse(BaseModel):
    """RFC 6749 §5.1 successful token response."""

    access_token: SecretStr
    token_type: str = "Bearer"
    expires_in: float = 300.0
    refresh_token: SecretStr | None = None
    scope: str | None = None


class OAuthClient:
    """Talks to the token endpoint as the public client ``codelab-cli`` (no secret).

    With a ``dpop`` key every token request carries a fresh proof, so the server binds
    the tokens to the key; a server without DPoP support answers ``Bearer`` tokens.
    """

    client_id = CLIENT_ID

    def __init__(self, server: str, http: httpx.AsyncClient, dpop: DpopKey | None = None) -> None:
        self.server = normalize_server(server)
        self.http = http
        self.dpop = dpop
        self._metadata: dict[str, str] | None = None

    async def metadata(self) -> dict[str, str]:
        """The server's RFC 8414 metadata (empty if discovery is unavailable)."""
        if self._metadata is None:
            try:
                response = await self.http.get(f"{self.server}{DISCOVERY_PATH}")
            except httpx.HTTPError as exc:
                raise ConnectionFailed(f"cannot reach {self.server}: {exc}") from exc
            body = response.json() if response.status_code == 200 else {}
            self._metadata = {k: v for k, v in body.items() if isinstance(v, str)}
        return self._metadata

    async def token_endpoint(self) -> str:
        """From discovery; falls back to the documented path if discovery is unavailable."""
        metadata = await self.metadata()
        return metadata.get("token_endpoint") or f"{self.server}{FALLBACK_TOKEN_PATH}"

    async def endpoint(self, name: str) -> str:
        """Another endpoint from discovery (``authorization_endpoint``...), or AuthError."""
        value = (await self.metadata()).get(name)
        if not value:
            raise AuthError(f"{self.server} does not offer {name.replace('_', ' ')}")
        return value

    async def post(self, endpoint: str, form: dict[str, str]) -> httpx.Response:
        """POST ``form`` as this client to ``endpoint`` (token requests with a DPoP proof)."""
        headers = {}
        if self.dpop is not None and "grant_type" in form:
            headers["DPoP"] = self.dpop.proof("POST", endpoint)
        try:
            return await self.http.post(
                endpoint, data={**form, "client_id": self.client_id}, headers=headers
            )
        except httpx.HTTPError as exc:
            raise ConnectionFailed(f"cannot reach {endpoint}: {exc}") from exc

    async def request_token(self, form: dict[str, str]) -> TokenResponse:
        response = await self.post(await self.token_endpoint(), form)
        if response.status_code != 200:
            raise AuthError(oauth_error_text(response))
        return parse_token(response)

    async def refresh(self, refresh_token: SecretStr) -> TokenResponse:
        return await self.request_token(
            {"grant_type": "refresh_token", "refresh_token": refresh_token.get_secret_value()}
        )


def parse_token(response: httpx.Response) -> TokenResponse:
    """A successful token response's body."""
    try:
        return TokenResponse.model_validate(response.json())
    except (ValidationError, ValueError) as exc:
        raise AuthError("the token endpoint answered with an unexpected body") from exc


def oauth_error_code(response: httpx.Response) -> str:
    """The RFC 6749 ``error`` of an error response ("" when there is none)."""
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("error", "")) if isinstance(body, dict) else ""


def oauth_error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"token endpoint answered HTTP {response.status_code}"
    error = body.get("error", "error") if isinstance(body, dict) else "error"
    description = body.get("error_description", "") if isinstance(body, dict) else ""
    return f"{error}: {description}" if description else str(error)


class LoginFlow(Protocol):
    """One way of obtaining a first token pair (password, browser PKCE, device code)."""

    async def obtain(self, oauth: OAuthClient) -> TokenResponse: ...


class PasswordFlow:
    """Resource-owner password grant (kept by auth for the CLI and tests)."""

    def __init__(self, username: str, password: SecretStr, scope: str = DEFAULT_SCOPE) -> None:
        self.username = username
        self.password = password
        self.scope = scope

    async def obtain(self, oauth: OAuthClient) -> TokenResponse:
        return await oauth.request_token(
            {
                "grant_type": "password",
                "username": self.username,
                "password": self.password.get_secret_value(),
                "scope": self.scope,
            }
        )


def to_credentials(
    token: TokenResponse, endpoint: str, username: str | None, previous: Credentials | None = None
) -> Credentials:
    return Credentials(
        access_token=token.access_token,
        token_type=token.token_type,
        # A server that does not rotate may omit the refresh token: keep the old one.
        refresh_token=token.refresh_token or (previous.refresh_token if previous else None),
        expires_at=time.time() + token.expires_in,
        token_endpoint=endpoint,
        username=username or (previous.username if previous else None),
        scope=token.scope or (previous.scope if previous else None),
    )


async def login(
    store: CredentialStore, oauth: OAuthClient, flow: LoginFlow, username: str | None
) -> Credentials:
    """Run ``flow`` and store the resulting tokens."""
    token = await flow.obtain(oauth)
    credentials = to_credentials(token, await oauth.token_endpoint(), username)
    with store.locked():
        store.save(oauth.server, credentials)
    return credentials


def access_token(credentials: Credentials, oauth: OAuthClient) -> AccessToken:
    """The credentials' access token with its type and the key it may be bound to."""
    return AccessToken(
        credentials.access_token.get_secret_value(), credentials.token_type, oauth.dpop
    )


async def stored_access_token(store: CredentialStore, oauth: OAuthClient) -> AccessToken:
    """The stored access token, refreshed (and the rotated refresh token saved) if near expiry.

    Raises :class:`LoginRequired` when there is nothing usable on disk.
    """
    with store.locked():
        credentials = store.load(oauth.server)
        if credentials is None:
            raise LoginRequired(f"not logged in to {oauth.server}: run `codelab login`")
        if not credentials.expires_within(REFRESH_MARGIN_SECONDS):
            return access_token(credentials, oauth)
        if credentials.refresh_token is None:
            raise LoginRequired("the stored session expired: run `codelab login`")
        try:
            token = await oauth.refresh(credentials.refresh_token)
        except AuthError as exc:
            store.delete(oauth.server)
            raise LoginRequired(f"the stored session ended ({exc}): run `codelab login`") from exc
        refreshed = to_credentials(token, credentials.token_endpoint, None, credentials)
        store.save(oauth.server, refreshed)
        return access_token(refreshed, oauth)
