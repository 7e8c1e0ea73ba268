"""A test issuer: an RSA key, its JWKS, and tokens signed the way services/auth signs them.

Unit tests of resource servers (gateway, llm-proxy) use it instead of booting auth;
the e2e suite uses the real auth service.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey


class TestIssuer:
    """Mints RS256 access tokens for an issuer URL; exposes the matching JWKS document."""

    __test__ = False  # not a pytest test class

    def __init__(self, issuer: str = "http://localhost:8080/auth") -> None:
        self.issuer = issuer
        self.key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"})
        self.key.ensure_kid()

    @property
    def kid(self) -> str:
        return str(self.key.kid)

    def jwks(self) -> dict[str, Any]:
        """The public JWKS document, as auth serves it at /.well-known/jwks.json."""
        return {"keys": [self.key.as_dict(private=False)]}

    def claims(
        self,
        *,
        sub: str = "user-1",
        audience: str = "codelab-gateway",
        scope: str = "sessions:read sessions:write",
        roles: list[str] | None = None,
        ttl: int = 300,
        **extra: Any,
    ) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": sub,
            "aud": audience,
            "iat": now,
            "exp": now + ttl,
            "jti": uuid.uuid4().hex,
            "scope": scope,
            "roles": roles if roles is not None else ["developer"],
            "client_id": "codelab-cli",
        }
        claims.update(extra)
        return claims

    def token(self, header: dict[str, Any] | None = None, **claim_args: Any) -> str:
        """A signed access token; ``header`` overrides (e.g. a different ``kid``)."""
        head = {"alg": "RS256", "kid": self.kid, "typ": "at+jwt", **(header or {})}
        return jwt.encode(head, self.claims(**claim_args), self.key)
