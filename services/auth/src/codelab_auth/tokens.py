"""Access tokens (RS256 JWTs, RFC 9068 profile) and opaque refresh tokens."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from joserfc import jwt

from codelab_auth.keys import ALGORITHM, LoadedKey


def new_refresh_token() -> str:
    """An unguessable opaque refresh token (384 bits)."""
    return secrets.token_urlsafe(48)


def hash_refresh_token(token: str) -> str:
    """What we store instead of the token: a DB leak must not yield usable tokens.

    A plain SHA-256 is enough (unlike passwords) because the token is 384 random bits.
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Subject:
    """Who a token speaks for: a user (``username`` set) or a client acting for itself."""

    sub: str
    roles: Sequence[str]
    username: str | None = None


@dataclass(frozen=True)
class IssuedAccessToken:
    """A signed access token and the claims in it (for audit logs, never the token)."""

    token: str
    claims: dict[str, Any]


class AccessTokenSigner:
    """Signs access tokens for one issuer with one key."""

    def __init__(self, *, issuer: str, ttl: int, key: LoadedKey) -> None:
        self.issuer = issuer
        self.ttl = ttl
        self._key = key

    def sign(
        self,
        *,
        subject: Subject,
        client_id: str,
        audience: str,
        scope: str,
        dpop_jkt: str | None = None,
    ) -> IssuedAccessToken:
        """A JWT with header ``{alg, kid, typ: at+jwt}`` and the CodeLab claim set."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": subject.sub,
            "aud": audience,
            "exp": now + self.ttl,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "scope": scope,
            "roles": list(subject.roles),
            "client_id": client_id,
        }
        if subject.username is not None:
            claims["preferred_username"] = subject.username
        if dpop_jkt is not None:  # RFC 9449 §6.1: bound to the client's DPoP key
            claims["cnf"] = {"jkt": dpop_jkt}
        header = {"alg": ALGORITHM, "kid": self._key.kid, "typ": "at+jwt"}
        return IssuedAccessToken(token=jwt.encode(header, claims, self._key.key), claims=claims)
