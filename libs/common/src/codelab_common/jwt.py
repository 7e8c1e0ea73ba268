"""RS256 access-token verification against the auth service's JWKS.

Resource servers (gateway, llm-proxy) verify tokens locally: the JWKS is fetched
once, cached, and refetched when a token names a ``kid`` we do not know — at most
once per ``min_refetch_interval`` so a flood of made-up kids cannot hammer auth.

A token that verified is remembered (exact bytes → claims) until it expires or its key
leaves the key set: a client sends the same token on every call, and the RSA check was
the largest single cost of a proxied LLM request. Revocation is still asked every time.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from pydantic import BaseModel, Field, ValidationError

from codelab_common.dpop import DpopVerifier
from codelab_common.errors import Forbidden, ServiceUnavailable, Unauthorized

ALLOWED_ALGORITHMS = ["RS256"]
# RFC 9068 §2.1: access tokens are typed, so an ID token or any other JWT signed by the
# same key cannot be replayed as an access token.
ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})
# Headers that would let a token choose its own verification key.
_FORBIDDEN_HEADERS = ("jku", "x5u", "jwk", "x5c")
# Verified tokens remembered per process (least recently used dropped first).
VERIFIED_CACHE_SIZE = 4096


class InvalidToken(Unauthorized):
    """The bearer token is missing, malformed, expired or not signed by our issuer."""

    code = "invalid_token"
    title = "Invalid access token"


class InsufficientScope(Forbidden):
    """The token is valid but lacks a scope this operation needs."""

    code = "insufficient_scope"
    title = "Insufficient scope"


class AccessTokenClaims(BaseModel):
    """The claims of a CodeLab access token (RFC 9068 profile)."""

    iss: str
    sub: str
    aud: str | list[str]
    exp: int
    iat: int
    jti: str
    scope: str = ""
    roles: list[str] = Field(default_factory=list)
    client_id: str | None = None
    preferred_username: str | None = None
    cnf: dict[str, Any] | None = None  # RFC 9449 §6: {"jkt": ...} on DPoP-bound tokens

    @property
    def dpop_jkt(self) -> str | None:
        """The thumbprint of the key this token is bound to, if it is DPoP-bound."""
        jkt = (self.cnf or {}).get("jkt")
        return jkt if isinstance(jkt, str) else None

    @property
    def scopes(self) -> frozenset[str]:
        """The granted scopes as a set."""
        return frozenset(self.scope.split())

    def require_scope(self, scope: str) -> None:
        """Raise :class:`InsufficientScope` unless ``scope`` was granted."""
        if scope not in self.scopes:
            raise InsufficientScope(f"this operation needs scope '{scope}'", required_scope=scope)


def _unverified_header(token: str) -> dict[str, Any]:
    try:
        head = token.split(".", 1)[0]
        padded = head + "=" * (-len(head) % 4)
        header = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidToken("token is not a well-formed JWT") from exc
    if not isinstance(header, dict):
        raise InvalidToken("token header is not a JSON object")
    return header


class JwtVerifier:
    """Verifies RS256 JWTs for one audience; shares one pooled HTTP client."""

    def __init__(
        self,
        *,
        jwks_url: str,
        issuer: str,
        audience: str,
        http: httpx.AsyncClient,
        cache_ttl: float = 300.0,
        min_refetch_interval: float = 5.0,
        leeway: int = 30,
        is_revoked: Callable[[str], Awaitable[bool]] | None = None,
    ) -> None:
        self._jwks_url = jwks_url
        self._issuer = issuer
        self._audience = audience
        self._http = http
        self._cache_ttl = cache_ttl
        self._min_refetch_interval = min_refetch_interval
        self._leeway = leeway
        # Optional: resource servers that check revocation pass a jti lookup (auth's
        # revoked-jti list, e.g. via introspection or a shared store).
        self._is_revoked = is_revoked
        self._keys: KeySet | None = None
        self._kids: set[str] = set()
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()
        # token -> (claims, kid) of tokens whose signature and claims checked out.
        self._verified: OrderedDict[str, tuple[AccessTokenClaims, str]] = OrderedDict()

    async def _fetch(self) -> None:
        try:
            response = await self._http.get(self._jwks_url)
            response.raise_for_status()
            document = response.json()
            keys = KeySet.import_key_set(document)
        except (httpx.HTTPError, ValueError, JoseError) as exc:
            raise ServiceUnavailable("cannot fetch the issuer's signing keys") from exc
        self._keys = keys
        self._kids = {str(k.get("kid")) for k in document.get("keys", []) if k.get("kid")}
        self._fetched_at = time.monotonic()

    def _needs_fetch(self, kid: str) -> bool:
        age = time.monotonic() - self._fetched_at
        stale = self._keys is None or age > self._cache_ttl
        return stale or (kid not in self._kids and age > self._min_refetch_interval)

    async def _key_set_for(self, kid: str) -> KeySet:
        # The lock is only for refetching: a fresh cache is read without queueing requests.
        if self._needs_fetch(kid):
            async with self._lock:
                if self._needs_fetch(kid):  # another request may have fetched meanwhile
                    await self._fetch()
        if self._keys is None or kid not in self._kids:
            raise InvalidToken("token was signed with an unknown key")
        return self._keys

    async def warm(self) -> None:
        """Fetch the key set now (readiness), instead of on the first request."""
        async with self._lock:
            await self._fetch()

    async def verify(self, token: str) -> AccessTokenClaims:
        """Verify a bearer token: signature, algorithm, type, issuer, audience, lifetime.

        A DPoP-bound token (``cnf.jkt``) is refused here: it is only good with its proof
        (:meth:`verify_dpop`).
        """
        claims = await self._verify(token)
        if claims.dpop_jkt is not None:
            raise InvalidToken("this token is DPoP-bound: present it with a DPoP proof")
        return claims

    async def verify_dpop(
        self,
        token: str,
        proof: str,
        *,
        method: str,
        url: str | Sequence[str],
        dpop: DpopVerifier,
    ) -> AccessTokenClaims:
        """Verify a DPoP-bound token and the request's proof (RFC 9449 §7.1)."""
        claims = await self._verify(token)
        jkt = await dpop.verify_shared(proof, method=method, url=url, access_token=token)
        if claims.dpop_jkt is None or not hmac.compare_digest(claims.dpop_jkt, jkt):
            raise InvalidToken("the token is not bound to the proof's key")
        return claims

    async def _verify(self, token: str) -> AccessTokenClaims:
        claims = self._remembered(token)
        if claims is None:
            claims = await self._verify_signed(token)
        if self._is_revoked is not None and await self._is_revoked(claims.jti):
            raise InvalidToken("token was revoked")
        return claims

    def _remembered(self, token: str) -> AccessTokenClaims | None:
        """The claims of ``token`` if it verified before and nothing has changed since."""
        entry = self._verified.get(token)
        if entry is None:
            return None
        claims, kid = entry
        if time.time() > claims.exp + self._leeway or kid not in self._kids:
            # Expired or its key was withdrawn: the full check gives the precise error.
            del self._verified[token]
            return None
        self._verified.move_to_end(token)
        return claims

    def _remember(self, token: str, claims: AccessTokenClaims, kid: str) -> None:
        self._verified[token] = (claims, kid)
        if len(self._verified) > VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)

    async def _verify_signed(self, token: str) -> AccessTokenClaims:
        header = _unverified_header(token)
        if header.get("alg") not in ALLOWED_ALGORITHMS:
            raise InvalidToken("token algorithm is not allowed")
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower() not in ACCESS_TOKEN_TYPES:
            raise InvalidToken("token type is not at+jwt")
        if any(name in header for name in _FORBIDDEN_HEADERS):
            raise InvalidToken("token carries a key reference header")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("token has no key id")
        keys = await self._key_set_for(kid)
        try:
            decoded = jwt.decode(token, keys, algorithms=ALLOWED_ALGORITHMS)
            registry = jwt.JWTClaimsRegistry(
                leeway=self._leeway,
                iss={"essential": True, "value": self._issuer},
                aud={"essential": True, "value": self._audience},
                exp={"essential": True},
                iat={"essential": True},
                sub={"essential": True},
                jti={"essential": True},
            )
            registry.validate(decoded.claims)
        except JoseError as exc:
            raise InvalidToken(f"token rejected: {exc.error}") from exc
        except ValueError as exc:
            raise InvalidToken("token is malformed") from exc
        try:
            claims = AccessTokenClaims.model_validate(decoded.claims)
        except ValidationError as exc:
            raise InvalidToken("token claims are incomplete") from exc
        self._remember(token, claims, kid)
        return claims


def bearer_from_header(value: str | None) -> str | None:
    """The token from an ``Authorization: Bearer ...`` header value, if there is one."""
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
