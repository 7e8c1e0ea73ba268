"""RFC 7662 introspection, and the access-token side of RFC 7009 revocation.

Access tokens are JWTs: the server recognises its own by signature (any published
key), issuer and expiry, and tracks early revocation by ``jti`` in ``revoked_tokens``.
Introspection is for confidential clients only (resource servers authenticate);
refresh tokens may be introspected only by the client they were issued to.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749 import TokenMixin
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from codelab_auth.oauth.grants import CONFIDENTIAL_METHODS
from codelab_auth.oauth.records import OAuthClient, StoredRefreshToken

if TYPE_CHECKING:
    from codelab_auth.oauth.server import CodelabAuthorizationServer
    from codelab_auth.oauth.transport import FormOAuth2Request


class StoredAccessToken(TokenMixin):  # type: ignore[misc]
    """A verified access token of ours: its claims and whether its jti was revoked."""

    def __init__(self, claims: dict[str, Any], revoked: bool) -> None:
        self.claims = claims
        self.revoked = revoked

    @property
    def jti(self) -> str:
        return str(self.claims["jti"])

    @property
    def expires_at(self) -> datetime:
        return datetime.fromtimestamp(int(self.claims["exp"]), UTC)

    def check_client(self, client: OAuthClient) -> bool:
        return bool(self.claims.get("client_id") == client.get_client_id())

    def get_scope(self) -> str:
        return str(self.claims.get("scope", ""))

    def get_expires_in(self) -> int:
        return int(self.claims["exp"]) - int(self.claims["iat"])

    def is_expired(self) -> bool:
        return bool(int(self.claims["exp"]) <= datetime.now(UTC).timestamp())

    def is_revoked(self) -> bool:
        return self.revoked


def read_access_token(server: CodelabAuthorizationServer, token: str) -> StoredAccessToken | None:
    """The token's claims if we signed it for our issuer, else None (not ours, or junk)."""
    if server.jwks is None or token.count(".") != 2:
        return None
    try:
        keys = KeySet.import_key_set(server.jwks)  # type: ignore[arg-type]
        decoded = jwt.decode(token, keys, algorithms=["RS256"])
        if decoded.header.get("typ") != "at+jwt":
            return None
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": server.signer.issuer},
            exp={"essential": True},
            jti={"essential": True},
        ).validate(decoded.claims)
    except (JoseError, ValueError):
        return None
    claims = dict(decoded.claims)
    return StoredAccessToken(claims, server.store.is_jti_revoked(str(claims["jti"])))


def query_any_token(
    server: CodelabAuthorizationServer, token: str, hint: str | None
) -> StoredAccessToken | StoredRefreshToken | None:
    """Find ``token`` as an access token or a refresh token (the hint only orders tries)."""
    if hint == "refresh_token":
        return _refresh(server, token) or read_access_token(server, token)
    return read_access_token(server, token) or _refresh(server, token)


def _refresh(server: CodelabAuthorizationServer, token: str) -> StoredRefreshToken | None:
    row = server.store.refresh_token(token)
    return StoredRefreshToken(row) if row is not None else None


class Introspection(IntrospectionEndpoint):  # type: ignore[misc]
    """RFC 7662 for confidential clients; inactive tokens answer ``{"active": false}``."""

    CLIENT_AUTH_METHODS = CONFIDENTIAL_METHODS
    server: CodelabAuthorizationServer

    def query_token(
        self, token_string: str, token_type_hint: str | None
    ) -> StoredAccessToken | StoredRefreshToken | None:
        return query_any_token(self.server, token_string, token_type_hint)

    def check_permission(self, token: Any, client: OAuthClient, request: FormOAuth2Request) -> bool:
        if isinstance(token, StoredRefreshToken):
            return token.check_client(client)
        return not client.is_public

    def introspect_token(self, token: StoredAccessToken | StoredRefreshToken) -> dict[str, Any]:
        if isinstance(token, StoredAccessToken):
            keys = ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "jti", "roles")
            body = {key: token.claims[key] for key in keys if key in token.claims}
            if "preferred_username" in token.claims:
                body["username"] = token.claims["preferred_username"]
            return {"active": True, "token_type": "Bearer", **body}
        row = token.row
        return {
            "active": True,
            "token_type": "refresh_token",
            "scope": row.scope,
            "client_id": row.client_id,
            "sub": str(row.user_id),
            "aud": row.audience,
            "iss": self.server.signer.issuer,
            "exp": int(row.expires_at.timestamp()),
            "iat": int(row.created_at.timestamp()),
        }
