"""Our rows seen through authlib's model interfaces (``ClientMixin``, ``TokenMixin``)."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import AuthorizationCodeMixin, ClientMixin, TokenMixin

from codelab_auth.adapters.db import await_in_sync
from codelab_auth.adapters.models import AuthorizationCode, Client, RefreshToken
from codelab_auth.passwords import SecretHasher
from codelab_auth.scopes import format_scope, parse_scope

PUBLIC_AUTH_METHODS = frozenset({"none"})
CONFIDENTIAL_AUTH_METHODS = frozenset({"client_secret_basic", "client_secret_post"})
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "[::1]"})


def _without_port(uri: str) -> tuple[str, str, str, str, str] | None:
    """A loopback http URI with its port removed, or None when it is not one."""
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return None
    host = parts.netloc.rsplit(":", 1)[0] if parts.port is not None else parts.netloc
    if parts.scheme != "http" or host not in LOOPBACK_HOSTS or "@" in parts.netloc:
        return None
    return parts.scheme, host, parts.path, parts.query, parts.fragment


def redirect_uri_matches(requested: str, registered: list[str], *, native: bool) -> bool:
    """Exact string match; for native (public) clients also RFC 8252 §7.3 loopback.

    A registered ``http://127.0.0.1/callback`` (no port) admits the same URI on any
    port, because a native app binds whatever port is free. Nothing else is relaxed:
    no prefix, case or trailing-slash leniency (RFC 9700 §4.1.3).
    """
    if requested in registered:
        return True
    if not native:
        return False
    asked = _without_port(requested)
    if asked is None or urlsplit(requested).port is None:
        return False
    return any(_without_port(uri) == asked and urlsplit(uri).port is None for uri in registered)


class OAuthClient(ClientMixin):  # type: ignore[misc]
    """A registered client; public when it has no secret."""

    def __init__(self, row: Client, hasher: SecretHasher) -> None:
        self.row = row
        self._hasher = hasher

    @property
    def is_public(self) -> bool:
        return self.row.secret_hash is None

    @property
    def scopes(self) -> frozenset[str]:
        return frozenset(self.row.scopes)

    @property
    def audiences(self) -> frozenset[str]:
        """Every audience this client may ask for (RFC 8707 ``resource``)."""
        return frozenset({self.row.default_audience, *self.row.allowed_audiences})

    def get_client_id(self) -> str:
        return self.row.client_id

    def get_default_redirect_uri(self) -> str | None:
        """None: ``redirect_uri`` is always required (a loopback pattern has no port to
        default to, and an explicit URI is what the token request must repeat)."""
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        return format_scope(parse_scope(scope) & self.scopes)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri_matches(redirect_uri, self.row.redirect_uris, native=self.is_public)

    def check_client_secret(self, client_secret: str) -> bool:
        stored = self.row.secret_hash
        if stored is None:
            return False
        recent = self._hasher.verified_client_secrets
        if recent.known(self.row.client_id, stored, client_secret):
            return True
        # argon2 runs in a worker thread so the event loop keeps serving meanwhile.
        if not await_in_sync(self._hasher.verify, stored, client_secret):
            return False
        recent.remember(self.row.client_id, stored, client_secret)
        return True

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        allowed = PUBLIC_AUTH_METHODS if self.is_public else CONFIDENTIAL_AUTH_METHODS
        return method in allowed

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.row.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        if grant_type not in self.row.grant_types:
            return False
        if grant_type == "password":
            return self.row.allow_password_grant
        if grant_type == "client_credentials":
            return not self.is_public
        return True


class StoredRefreshToken(TokenMixin):  # type: ignore[misc]
    """A refresh-token row found by the hash of the presented token."""

    def __init__(self, row: RefreshToken) -> None:
        self.row = row

    def check_client(self, client: OAuthClient) -> bool:
        return self.row.client_id == client.get_client_id()

    def get_scope(self) -> str:
        return self.row.scope

    def get_expires_in(self) -> int:
        return int((self.row.expires_at - self.row.created_at).total_seconds())

    def is_expired(self, now: datetime | None = None) -> bool:
        return self.row.expires_at <= (now or datetime.now(self.row.expires_at.tzinfo))

    def is_revoked(self) -> bool:
        """Revoked, or already rotated away (a used refresh token is dead too)."""
        return self.row.revoked_at is not None or self.row.used_at is not None


class StoredAuthorizationCode(AuthorizationCodeMixin):  # type: ignore[misc]
    """An authorization-code row as authlib sees it."""

    def __init__(self, row: AuthorizationCode) -> None:
        self.row = row
        # Read by authlib's CodeChallenge extension.
        self.code_challenge = row.code_challenge
        self.code_challenge_method = row.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scope

    def is_expired(self) -> bool:
        return self.row.expires_at <= datetime.now(self.row.expires_at.tzinfo)
