"""The three token grants, as authlib grant subclasses over our store and signer."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import (
    InvalidGrantError,
    InvalidScopeError,
    OAuth2Error,
)

from codelab_auth.accounts import BAD_CREDENTIALS, THROTTLED, LoginThrottled
from codelab_auth.adapters.models import User
from codelab_auth.oauth.records import OAuthClient, StoredRefreshToken
from codelab_auth.scopes import ScopeNotAllowed, grant_scope, parse_scope, scopes_for_roles
from codelab_auth.tokens import Subject

if TYPE_CHECKING:
    from codelab_auth.oauth.server import CodelabAuthorizationServer
    from codelab_auth.oauth.transport import FormOAuth2Request

TOKEN_AUTH_METHODS = ["none", "client_secret_basic", "client_secret_post"]
CONFIDENTIAL_METHODS = ["client_secret_basic", "client_secret_post"]
log = logging.getLogger(__name__)


class InvalidTargetError(OAuth2Error):  # type: ignore[misc]
    """RFC 8707 §2: the requested ``resource`` is not one this client may get tokens for."""

    error = "invalid_target"


class MintingGrant(grants.BaseGrant):  # type: ignore[misc]
    """Shared token minting: scope policy, audience choice, JWT signing.

    Overrides ``BaseGrant.generate_token`` because the audience depends on the request
    (RFC 8707 ``resource``) and the refresh token's own audience, which authlib's
    token-generator signature cannot see.
    """

    server: CodelabAuthorizationServer
    request: FormOAuth2Request
    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS

    def allowed_scopes(self, user: User | None) -> frozenset[str]:
        client: OAuthClient = self.request.client
        if user is None:
            return client.scopes
        return client.scopes & scopes_for_roles(user.roles)

    def default_audience(self) -> str:
        client: OAuthClient = self.request.client
        return client.row.default_audience

    def choose_audience(self) -> str:
        client: OAuthClient = self.request.client
        resource = self.request.form.get("resource")
        if not resource:
            return self.default_audience()
        if resource not in client.audiences:
            raise InvalidTargetError("The requested resource is not allowed for this client.")
        return resource

    def generate_token(
        self,
        user: User | None = None,
        scope: str | None = None,
        grant_type: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        client: OAuthClient = self.request.client
        try:
            granted = grant_scope(scope, self.allowed_scopes(user))
        except ScopeNotAllowed as exc:
            raise InvalidScopeError(f"Scope not allowed for this client or user: {exc}") from exc
        audience = self.choose_audience()
        self.request.issued_audience = audience
        if user is None:
            subject = Subject(sub=client.get_client_id(), roles=[])
        else:
            subject = Subject(sub=str(user.id), roles=user.roles, username=user.username)
        jkt = self.request.dpop_jkt
        issued = self.server.signer.sign(
            subject=subject,
            client_id=client.get_client_id(),
            audience=audience,
            scope=granted,
            dpop_jkt=jkt,
        )
        self.request.issued_jti = issued.claims["jti"]
        self.server.audit(
            "token_issued",
            subject=subject.sub,
            client_id=client.get_client_id(),
            grant_type=grant_type or self.GRANT_TYPE,
            aud=audience,
            scope=granted,
            jti=issued.claims["jti"],
        )
        token: dict[str, Any] = {
            "token_type": "DPoP" if jkt else "Bearer",
            "access_token": issued.token,
            "expires_in": self.server.signer.ttl,
            "scope": granted,
        }
        if include_refresh_token and user is not None and client.check_grant_type("refresh_token"):
            token["refresh_token"] = self.server.new_refresh_token()
        return token


class PasswordGrant(MintingGrant, grants.ResourceOwnerPasswordCredentialsGrant):  # type: ignore[misc]
    """Resource-owner password grant, only for clients flagged ``allow_password_grant``."""

    def authenticate_user(self, username: str, password: str) -> User:
        try:
            # ``otp``: CodeLab's extension for users with a TOTP second factor.
            user = self.server.login(username, password, self.request.form.get("otp"))
        except LoginThrottled as exc:
            raise InvalidGrantError(THROTTLED) from exc
        if user is None:
            raise InvalidGrantError(BAD_CREDENTIALS)
        return user


class ClientCredentialsGrant(MintingGrant, grants.ClientCredentialsGrant):  # type: ignore[misc]
    """Client credentials for confidential clients (basic or post secret)."""

    TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_METHODS


class RefreshTokenGrant(MintingGrant, grants.RefreshTokenGrant):  # type: ignore[misc]
    """Rotating refresh tokens: each use yields a new one; a reused one kills the family."""

    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> StoredRefreshToken | None:
        row = self.server.store.refresh_token(refresh_token)
        if row is None:
            return None
        if row.used_at is not None or row.revoked_at is not None:
            self.server.store.revoke_family(row.family_id, reuse=row.used_at is not None)
            raise InvalidGrantError("The refresh token was already used or revoked.")
        stored = StoredRefreshToken(row)
        if stored.is_expired():
            raise InvalidGrantError("The refresh token has expired.")
        # RFC 9449 §5: a refresh token issued with DPoP is usable only with the same key.
        if row.dpop_jkt is not None and row.dpop_jkt != self.request.dpop_jkt:
            raise InvalidGrantError("The refresh token is bound to another DPoP key.")
        return stored

    def authenticate_user(self, refresh_token: StoredRefreshToken) -> User:
        user = self.server.store.user(refresh_token.row.user_id)
        if user is None or user.disabled:
            raise InvalidGrantError("The user of this refresh token is no longer active.")
        return user

    def allowed_scopes(self, user: User | None) -> frozenset[str]:
        stored: StoredRefreshToken = self.request.refresh_token
        return super().allowed_scopes(user) & parse_scope(stored.get_scope())

    def default_audience(self) -> str:
        stored: StoredRefreshToken = self.request.refresh_token
        return stored.row.audience

    def issue_token(self, user: User, refresh_token: StoredRefreshToken) -> dict[str, Any]:
        # authlib would default to the original scope; passing only what was asked lets
        # ``allowed_scopes`` narrow it silently if the user's roles shrank since.
        return self.generate_token(user=user, scope=self.request.payload.scope)

    def create_token_response(self) -> tuple[int, Any, list[tuple[str, str]]]:
        stored: StoredRefreshToken = self.request.refresh_token
        # Claim before minting: a concurrent request that won the race makes this a reuse.
        if not self.server.store.claim(stored.row):
            self.server.store.revoke_family(stored.row.family_id, reuse=True)
            raise InvalidGrantError("The refresh token was already used or revoked.")
        result: tuple[int, Any, list[tuple[str, str]]] = super().create_token_response()
        return result

    def revoke_old_credential(self, refresh_token: StoredRefreshToken) -> None:
        """Nothing left to do: :meth:`create_token_response` marked it used atomically."""
