"""Authorization code grant with PKCE (S256 only), single-use codes and replay revocation."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import (
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
)
from authlib.oauth2.rfc7636 import CodeChallenge

from codelab_auth.adapters.models import AuthorizationCode, User, utcnow
from codelab_auth.oauth.grants import TOKEN_AUTH_METHODS, MintingGrant
from codelab_auth.oauth.records import OAuthClient, StoredAuthorizationCode
from codelab_auth.scopes import format_scope, parse_scope, scopes_for_roles
from codelab_auth.tokens import hash_refresh_token

if TYPE_CHECKING:
    from codelab_auth.oauth.transport import FormOAuth2Request

log = logging.getLogger(__name__)


class S256CodeChallenge(CodeChallenge):  # type: ignore[misc]
    """PKCE for every client, S256 only (RFC 9700 §2.1.1: ``plain`` is a downgrade).

    authlib's extension makes the challenge optional and defaults the method to plain;
    here a missing challenge or any method other than ``S256`` is ``invalid_request``.
    """

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        payload = grant.request.payload
        if not payload.data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: missing 'code_challenge'.")
        if payload.data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("'code_challenge_method' must be S256.")
        super().validate_code_challenge(grant, redirect_uri)


class AuthorizationCodeGrant(MintingGrant, grants.AuthorizationCodeGrant):  # type: ignore[misc]
    """Codes are stored hashed, live ``code_ttl`` seconds and are claimed atomically."""

    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS
    request: FormOAuth2Request

    def validate_requested_scope(self) -> None:
        """Refuse (not silently narrow) a scope the client is not registered for."""
        super().validate_requested_scope()
        client: OAuthClient = self.request.client
        if not parse_scope(self.request.payload.scope) <= client.scopes:
            raise InvalidScopeError("Scope not allowed for this client.")

    def save_authorization_code(self, code: str, request: FormOAuth2Request) -> None:
        client: OAuthClient = request.client
        user: User = request.user
        # The user may hold fewer scopes than the client asked for: grant the overlap.
        scope = format_scope(
            parse_scope(request.scope) & client.scopes & scopes_for_roles(user.roles)
        )
        now = utcnow()
        self.server.store.add_code(
            AuthorizationCode(
                code_hash=hash_refresh_token(code),
                client_id=client.get_client_id(),
                user_id=user.id,
                redirect_uri=request.payload.redirect_uri,
                scope=scope,
                audience=self.choose_audience(),
                code_challenge=request.payload.data["code_challenge"],
                code_challenge_method="S256",
                created_at=now,
                expires_at=now + timedelta(seconds=self.server.code_ttl),
            )
        )

    def query_authorization_code(
        self, code: str, client: OAuthClient
    ) -> StoredAuthorizationCode | None:
        row = self.server.store.code(code, client.get_client_id())
        if row is None:
            return None
        stored = StoredAuthorizationCode(row)
        if row.used_at is not None:
            self._revoke_issued(stored)
            raise InvalidGrantError("The authorization code was already used.")
        if stored.is_expired():
            raise InvalidGrantError("The authorization code has expired.")
        return stored

    def _revoke_issued(self, stored: StoredAuthorizationCode) -> None:
        """A replayed code: revoke the refresh family and access token it produced."""
        row = stored.row
        store = self.server.store
        if row.family_id is not None:
            store.revoke_family(row.family_id, reuse=True)
        if row.access_jti is not None:
            expires = row.used_at or utcnow()
            store.revoke_jti(
                row.access_jti, expires + timedelta(seconds=self.server.signer.ttl), "code_replay"
            )
        self.server.audit("code_replay", client_id=row.client_id, user_id=str(row.user_id))

    def default_audience(self) -> str:
        stored: StoredAuthorizationCode | None = self.request.authorization_code
        if stored is None:  # at the authorization endpoint, before a code exists
            return super().default_audience()
        return stored.row.audience

    def authenticate_user(self, authorization_code: StoredAuthorizationCode) -> User | None:
        user = self.server.store.user(authorization_code.row.user_id)
        return None if user is None or user.disabled else user

    def create_token_response(self) -> tuple[int, Any, list[tuple[str, str]]]:
        stored: StoredAuthorizationCode = self.request.authorization_code
        # Claim before minting: of two concurrent exchanges only one may win.
        if not self.server.store.claim_code(stored.row):
            self._revoke_issued(stored)
            raise InvalidGrantError("The authorization code was already used.")
        result: tuple[int, Any, list[tuple[str, str]]] = super().create_token_response()
        return result

    def delete_authorization_code(self, authorization_code: StoredAuthorizationCode) -> None:
        """Kept (claimed) rather than deleted, so a replay can be recognised."""
        self.server.store.record_code_issue(
            authorization_code.row, self.request.issued_family, self.request.issued_jti
        )
