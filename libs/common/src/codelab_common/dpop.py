"""DPoP proofs (RFC 9449): sender-constrained tokens, checked by auth and resource servers.

A proof is a JWT signed by the client's own key, carried in the ``DPoP`` header, with
the public key in its header. It binds one request (``htm``, ``htu``), is fresh
(``iat``), single-use (``jti``) and, at a resource server, names the access token
(``ath``). The key's RFC 7638 thumbprint (``jkt``) is what a bound token carries in
``cnf.jkt``.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry

from codelab_common.errors import Unauthorized

PROOF_ALGORITHMS = ["ES256", "RS256", "EdDSA"]
_KEY_TYPES = frozenset({"EC", "RSA", "OKP"})


class InvalidDpopProof(Unauthorized):
    """The DPoP proof is missing, malformed, stale, replayed or for another request."""

    code = "invalid_dpop_proof"
    title = "Invalid DPoP proof"


def access_token_hash(token: str) -> str:
    """``ath``: base64url(SHA-256(access token))."""
    digest = hashlib.sha256(token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _normalize(url: str) -> str:
    # RFC 9449 §4.3: compare without query and fragment.
    parts = urlsplit(url)
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, "", ""))


class ReplayCache:
    """Proof ``jti`` values seen within the acceptance window (bounded, in-process)."""

    def __init__(self, window: float, max_entries: int = 100_000) -> None:
        self._window = window
        self._max = max_entries
        self._seen: OrderedDict[str, float] = OrderedDict()

    def first_use(self, jti: str, now: float) -> bool:
        while self._seen and (
            next(iter(self._seen.values())) < now - self._window or len(self._seen) > self._max
        ):
            self._seen.popitem(last=False)
        if jti in self._seen:
            return False
        self._seen[jti] = now
        return True


class SharedReplays(Protocol):
    """Proof ``jti`` values seen by *any* replica of the server."""

    async def first_use(self, jti: str, window: float) -> bool: ...


class RedisReplays:
    """:class:`SharedReplays` in Redis: one ``SET NX`` per proof, gone after the window."""

    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = f"{prefix}dpop:jti:"

    async def first_use(self, jti: str, window: float) -> bool:
        # Hashed: a jti is client-chosen and may be long; the key stays bounded.
        key = self._prefix + hashlib.sha256(jti.encode()).hexdigest()
        return bool(await self._redis.set(key, b"1", nx=True, px=int(window * 1000)))


class DpopVerifier:
    """Checks proofs for one server: ``verify`` returns the key thumbprint (``jkt``).

    Replays are refused per process by ``verify``; a server with several replicas passes
    ``shared`` and calls :meth:`verify_shared`, so a proof used at one replica is refused
    at every other one too (RFC 9449 §11.1).
    """

    def __init__(
        self, max_age: float = 60.0, leeway: float = 5.0, shared: SharedReplays | None = None
    ) -> None:
        self._max_age = max_age
        self._leeway = leeway
        self._replays = ReplayCache(max_age + leeway)
        self._shared = shared

    async def verify_shared(
        self,
        proof: str,
        *,
        method: str,
        url: str | Sequence[str],
        access_token: str | None = None,
    ) -> str:
        """:meth:`verify`, then the replay check across replicas when ``shared`` is set."""
        jkt, jti = self._check(proof, method=method, url=url, access_token=access_token)
        window = self._max_age + self._leeway
        if self._shared is not None and not await self._shared.first_use(jti, window):
            raise InvalidDpopProof("the proof was already used")
        return jkt

    def verify(
        self,
        proof: str,
        *,
        method: str,
        url: str | Sequence[str],
        access_token: str | None = None,
    ) -> str:
        """Check ``proof`` for this request; ``url`` may list every name the server has.

        A server reachable under several names (``localhost`` and ``127.0.0.1``, an internal
        and a public host) accepts a proof whose ``htu`` is any of them, and nothing else.
        """
        return self._check(proof, method=method, url=url, access_token=access_token)[0]

    def _check(
        self,
        proof: str,
        *,
        method: str,
        url: str | Sequence[str],
        access_token: str | None,
    ) -> tuple[str, str]:
        """(jkt, jti) of a valid proof not seen by this process before."""
        targets = {_normalize(u) for u in ([url] if isinstance(url, str) else url)}
        try:
            header = jws.extract_compact(proof.encode("ascii")).headers()  # unverified: the key
            if header.get("typ") != "dpop+jwt" or header.get("alg") not in PROOF_ALGORITHMS:
                raise InvalidDpopProof("a DPoP proof must be typ dpop+jwt with an allowed alg")
            jwk: dict[str, Any] = header.get("jwk") or {}
            if jwk.get("kty") not in _KEY_TYPES or any(name in jwk for name in ("d", "p", "q")):
                raise InvalidDpopProof("the proof must carry a public key")
            key = JWKRegistry.import_key(jwk)
            claims = jwt.decode(proof, key, algorithms=PROOF_ALGORITHMS).claims
        except (JoseError, ValueError, TypeError) as exc:
            raise InvalidDpopProof("the DPoP proof cannot be verified") from exc
        now = time.time()
        if claims.get("htm") != method.upper():
            raise InvalidDpopProof("the proof is for another HTTP method")
        if not isinstance(claims.get("htu"), str) or _normalize(claims["htu"]) not in targets:
            raise InvalidDpopProof("the proof is for another URL")
        iat = claims.get("iat")
        if not isinstance(iat, int | float) or not (
            now - self._max_age <= iat <= now + self._leeway
        ):
            raise InvalidDpopProof("the proof is too old or from the future")
        if access_token is not None and claims.get("ath") != access_token_hash(access_token):
            raise InvalidDpopProof("the proof is not for this access token")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti or not self._replays.first_use(jti, now):
            raise InvalidDpopProof("the proof was already used")
        return str(key.thumbprint()), jti
