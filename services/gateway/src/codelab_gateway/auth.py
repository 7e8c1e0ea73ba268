"""Who is calling: bearer tokens from the upgrade request or HTTP request, verified locally."""

from __future__ import annotations

from collections.abc import Sequence

from codelab_common.dpop import DpopVerifier, InvalidDpopProof
from codelab_common.errors import ServiceUnavailable
from codelab_common.jwt import AccessTokenClaims, InvalidToken, JwtVerifier, bearer_from_header
from codelab_gateway.metrics import GatewayMetrics


def token_from_request(
    authorization: str | None, query_token: str | None, *, allow_query: bool
) -> str | None:
    """The access token of a request: ``Authorization: Bearer`` first, then ``?access_token=``.

    The query parameter exists because some WebSocket clients (browsers among them) cannot
    set headers on the upgrade request. Its cost is that query strings end up in proxy and
    access logs, browser history and ``Referer`` headers, where a header does not; so the
    header always wins, the query form can be switched off (``ALLOW_QUERY_TOKEN=false``), and
    our nginx config does not log the query string of ``/acp``. Tokens are short-lived, which
    bounds the damage of one that leaks.
    """
    if token := bearer_from_header(authorization):
        return token
    if allow_query and query_token and query_token.strip():
        return query_token.strip()
    return None


def dpop_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: DPoP <token>`` header (RFC 9449 §7.1)."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "dpop" or not token.strip():
        return None
    return token.strip()


def _failure_reason(exc: InvalidToken) -> str:
    return "expired" if "expired" in exc.detail else "invalid"


class Authenticator:
    """Verifies access tokens for one audience and counts why the rejected ones failed."""

    def __init__(
        self, verifier: JwtVerifier, metrics: GatewayMetrics, dpop: DpopVerifier | None = None
    ) -> None:
        self._verifier = verifier
        self._metrics = metrics
        # With shared replays (Redis) a proof is single-use across every gateway replica.
        self._dpop = dpop or DpopVerifier()

    async def authenticate_dpop(
        self,
        token: str,
        proof: str | None,
        *,
        method: str,
        url: str | Sequence[str],
        transport: str,
    ) -> AccessTokenClaims:
        """Claims of a DPoP-bound token presented with a valid proof for this request."""
        failures = self._metrics.auth_failures
        if not proof:
            failures.labels(transport, "invalid").inc()
            raise InvalidToken("a DPoP token needs a DPoP proof header")
        try:
            return await self._verifier.verify_dpop(
                token, proof, method=method, url=url, dpop=self._dpop
            )
        except InvalidDpopProof as exc:
            failures.labels(transport, "invalid").inc()
            raise InvalidToken(exc.detail) from exc
        except InvalidToken as exc:
            failures.labels(transport, _failure_reason(exc)).inc()
            raise

    async def authenticate(self, token: str | None, *, transport: str) -> AccessTokenClaims:
        """Claims of a valid token; :class:`InvalidToken` (401) or ``ServiceUnavailable``."""
        failures = self._metrics.auth_failures
        if token is None:
            failures.labels(transport, "missing").inc()
            raise InvalidToken("no access token")
        try:
            return await self._verifier.verify(token)
        except InvalidToken as exc:
            failures.labels(transport, _failure_reason(exc)).inc()
            raise
        except ServiceUnavailable:
            failures.labels(transport, "jwks_unavailable").inc()
            raise
