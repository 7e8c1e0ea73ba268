"""The authorization server for one request: authlib's engine bound to a DB session.

A server is built per request (registering three grants and an endpoint is a few list
appends) so that authlib's hooks — which receive no request or session — reach the
request's own :class:`~sqlalchemy.orm.Session` through ``self`` instead of a global.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from authlib.oauth2.rfc6749 import AuthorizationServer
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc8628 import DEVICE_CODE_GRANT_TYPE
from sqlalchemy.orm import Session
from sqlalchemy.util import await_

from codelab_auth.accounts import LoginThrottled, check_password, check_second_factor
from codelab_auth.adapters.models import User
from codelab_auth.audit import audit
from codelab_auth.oauth.code_grant import AuthorizationCodeGrant, S256CodeChallenge
from codelab_auth.oauth.device import DeviceEndpoint, DeviceGrant
from codelab_auth.oauth.grants import (
    TOKEN_AUTH_METHODS,
    ClientCredentialsGrant,
    PasswordGrant,
    RefreshTokenGrant,
)
from codelab_auth.oauth.introspection import Introspection, StoredAccessToken, query_any_token
from codelab_auth.oauth.records import OAuthClient, StoredRefreshToken
from codelab_auth.oauth.store import OAuthStore
from codelab_auth.oauth.transport import FormOAuth2Request, OAuthResult
from codelab_auth.passwords import SecretHasher
from codelab_auth.scopes import SUPPORTED_SCOPES
from codelab_auth.throttle import LoginThrottle
from codelab_auth.tokens import AccessTokenSigner, new_refresh_token
from codelab_auth.totp import TotpCodec

GRANT_TYPES = (
    "authorization_code",
    DEVICE_CODE_GRANT_TYPE,
    "password",
    "refresh_token",
    "client_credentials",
)


@dataclass(frozen=True)
class TokenPolicy:
    """Request-independent inputs of the server: hashing and token/code lifetimes."""

    hasher: SecretHasher
    refresh_token_ttl: int
    code_ttl: int = 60
    session_max_age: int = 90 * 24 * 3600
    throttle: LoginThrottle | None = None
    device_code_ttl: int = 600
    device_poll_interval: int = 5
    totp: TotpCodec | None = None


class RevocationWithFamilies(RevocationEndpoint):  # type: ignore[misc]
    """RFC 7009 revocation. Revoking a refresh token revokes its whole family.

    Revoking an access token (a JWT we signed) puts its ``jti`` on the revoked list, which
    introspection and resource servers that check revocation honour. Unknown tokens get
    the RFC 7009 §2.2 answer (200, nothing revoked).
    """

    CLIENT_AUTH_METHODS = TOKEN_AUTH_METHODS
    server: CodelabAuthorizationServer

    def query_token(self, token_string: str, token_type_hint: str | None) -> Any:
        return query_any_token(self.server, token_string, token_type_hint)

    def revoke_token(
        self, token: StoredRefreshToken | StoredAccessToken, request: FormOAuth2Request
    ) -> None:
        if isinstance(token, StoredAccessToken):
            self.server.store.revoke_jti(token.jti, token.expires_at, "revocation")
            self.server.audit(
                "revocation",
                subject=str(token.claims.get("sub")),
                client_id=str(token.claims.get("client_id")),
                jti=token.jti,
            )
            return
        self.server.store.revoke_family(token.row.family_id, reuse=False)
        self.server.audit(
            "revocation",
            subject=str(token.row.user_id),
            client_id=token.row.client_id,
            family_id=str(token.row.family_id),
        )


class CodelabAuthorizationServer(AuthorizationServer):  # type: ignore[misc]
    """authlib's server with our grants, storage and signer."""

    def __init__(
        self,
        session: Session,
        policy: TokenPolicy,
        signer: AccessTokenSigner,
        ip: str | None = None,
        jwks: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(scopes_supported=list(SUPPORTED_SCOPES))
        self.session = session
        self.store = OAuthStore(session)
        self.hasher = policy.hasher
        self.signer = signer
        self.policy = policy
        self.code_ttl = policy.code_ttl
        self.ip = ip
        self.jwks = jwks  # our public keys, to recognise our own access tokens
        self._refresh_ttl = policy.refresh_token_ttl
        for grant in (PasswordGrant, RefreshTokenGrant, ClientCredentialsGrant):
            self.register_grant(grant)
        self.register_grant(AuthorizationCodeGrant, [S256CodeChallenge(required=True)])
        self.register_endpoint(RevocationWithFamilies)
        self.register_endpoint(Introspection)
        self.register_grant(DeviceGrant)
        self.register_endpoint(DeviceEndpoint)

    def audit(self, event: str, **fields: Any) -> None:
        """Record an audit event on this request's session (committed with it)."""
        fields.setdefault("ip", self.ip)
        audit(self.session, event, **fields)

    def login(self, username: str, password: str, otp: str | None = None) -> User | None:
        """Check a password (grant or login page), count failures, audit the outcome.

        Raises :class:`LoginThrottled` without checking the password while the account
        or the client address is locked out.
        """
        throttle = self.policy.throttle
        if throttle is not None:
            wait = await_(throttle.retry_after(username, self.ip))
            if wait > 0:
                self.audit("login", outcome="locked", username=username)
                raise LoginThrottled(wait)
        user = check_password(self.store, self.hasher, username, password)
        totp = self.policy.totp
        if user is not None and totp and not check_second_factor(self.store, totp, user, otp):
            user = None  # same answer as a wrong password; counted the same
        if user is None:
            # The username is audited (an operator needs it); the password never is.
            self.audit("login", outcome="failure", username=username)
            if throttle is not None:
                await_(throttle.failed(username, self.ip))
        else:
            self.audit("login", subject=str(user.id), username=username)
            if throttle is not None:
                await_(throttle.succeeded(username))
        return user

    def query_client(self, client_id: str) -> OAuthClient | None:
        row = self.store.client(client_id)
        return OAuthClient(row, self.hasher) if row is not None else None

    def new_refresh_token(self) -> str:
        return new_refresh_token()

    def save_token(self, token: dict[str, Any], request: FormOAuth2Request) -> None:
        """Persist the refresh token (access tokens are stateless JWTs)."""
        refresh = token.get("refresh_token")
        user: User | None = request.user
        if refresh is None or user is None:
            return
        parent: StoredRefreshToken | None = request.refresh_token
        assert request.issued_audience is not None
        row = self.store.add_refresh_token(
            refresh,
            user_id=user.id,
            client_id=request.client.get_client_id(),
            scope=token.get("scope", ""),
            audience=request.issued_audience,
            ttl=self._refresh_ttl,
            parent=parent.row if parent is not None else None,
            max_age=self.policy.session_max_age,
            dpop_jkt=request.dpop_jkt,
        )
        request.issued_family = row.family_id

    def create_oauth2_request(self, request: FormOAuth2Request) -> FormOAuth2Request:
        return request  # built by oauth.transport before we left the event loop

    def handle_response(
        self, status: int, body: Any, headers: list[tuple[str, str]]
    ) -> OAuthResult:
        return status, body, headers

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """No signal bus; audit logging happens where tokens are minted and revoked."""
