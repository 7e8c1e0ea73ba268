"""JwtVerifier against a JWKS served over a real loopback-free ASGI app."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from codelab_common.dpop import DpopVerifier, access_token_hash
from codelab_common.jwt import InsufficientScope, InvalidToken, JwtVerifier, bearer_from_header
from codelab_testing.tokens import TestIssuer


class JwksServer:
    """A JWKS endpoint that counts fetches and can switch issuers (key rotation)."""

    def __init__(self, issuer: TestIssuer) -> None:
        self.issuers = [issuer]
        self.fetches = 0

    async def jwks(self, request: Request) -> JSONResponse:
        self.fetches += 1
        return JSONResponse({"keys": [k for i in self.issuers for k in i.jwks()["keys"]]})

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/jwks", self.jwks)])


@pytest.fixture
def issuer() -> TestIssuer:
    return TestIssuer()


@pytest.fixture
def server(issuer: TestIssuer) -> JwksServer:
    return JwksServer(issuer)


@pytest.fixture
async def verifier(server: JwksServer, issuer: TestIssuer) -> AsyncIterator[JwtVerifier]:
    transport = httpx.ASGITransport(app=server.app())
    async with httpx.AsyncClient(transport=transport, base_url="http://auth") as http:
        yield JwtVerifier(
            jwks_url="http://auth/jwks",
            issuer=issuer.issuer,
            audience="codelab-gateway",
            http=http,
            min_refetch_interval=0.0,
        )


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_valid_token_yields_claims(verifier: JwtVerifier, issuer: TestIssuer) -> None:
    claims = await verifier.verify(issuer.token(sub="alice", scope="sessions:read"))
    assert claims.sub == "alice"
    assert claims.scopes == {"sessions:read"}
    with pytest.raises(InsufficientScope):
        claims.require_scope("sessions:write")


@pytest.mark.parametrize(
    ("claim_args", "reason"),
    [
        ({"audience": "codelab-llm-proxy"}, "wrong audience"),
        ({"ttl": -120}, "expired"),
        ({"iss": "http://evil.example/auth"}, "wrong issuer"),
    ],
)
async def test_claims_are_enforced(
    verifier: JwtVerifier, issuer: TestIssuer, claim_args: dict[str, object], reason: str
) -> None:
    with pytest.raises(InvalidToken):
        await verifier.verify(issuer.token(**claim_args))


async def test_token_from_another_key_is_rejected(verifier: JwtVerifier) -> None:
    stranger = TestIssuer()
    with pytest.raises(InvalidToken, match="unknown key"):
        await verifier.verify(stranger.token())


async def test_forged_kid_with_other_key_is_rejected(
    verifier: JwtVerifier, issuer: TestIssuer
) -> None:
    stranger = TestIssuer()
    forged = stranger.token(header={"kid": issuer.kid})
    with pytest.raises(InvalidToken):
        await verifier.verify(forged)


async def test_alg_none_is_rejected(verifier: JwtVerifier, issuer: TestIssuer) -> None:
    header = {"alg": "none", "kid": issuer.kid, "typ": "at+jwt"}
    token = f"{_b64(header)}.{_b64(issuer.claims())}."
    with pytest.raises(InvalidToken, match="algorithm"):
        await verifier.verify(token)


async def test_hs256_with_public_key_is_rejected(verifier: JwtVerifier, issuer: TestIssuer) -> None:
    # Hand-made: joserfc itself refuses to use a public key as an HMAC secret.
    public_pem = issuer.key.as_pem(private=False)
    signing_input = f"{_b64({'alg': 'HS256', 'kid': issuer.kid})}.{_b64(issuer.claims())}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    with pytest.raises(InvalidToken, match="algorithm"):
        await verifier.verify(token)


async def test_key_reference_headers_are_rejected(
    verifier: JwtVerifier, issuer: TestIssuer
) -> None:
    token = issuer.token(header={"jku": "http://evil.example/jwks"})
    with pytest.raises(InvalidToken, match="key reference"):
        await verifier.verify(token)


async def test_garbage_is_rejected(verifier: JwtVerifier) -> None:
    for token in ("", "abc", "a.b.c", "!!!.???.###"):
        with pytest.raises(InvalidToken):
            await verifier.verify(token)


async def test_rotation_is_followed_by_refetch_on_unknown_kid(
    verifier: JwtVerifier, server: JwksServer
) -> None:
    old = server.issuers[0]
    await verifier.verify(old.token())
    rotated = TestIssuer(issuer=old.issuer)
    server.issuers.append(rotated)
    claims = await verifier.verify(rotated.token(sub="after-rotation"))
    assert claims.sub == "after-rotation"
    assert server.fetches == 2


async def test_unknown_kid_refetch_is_rate_limited(issuer: TestIssuer) -> None:
    server = JwksServer(issuer)
    transport = httpx.ASGITransport(app=server.app())
    async with httpx.AsyncClient(transport=transport, base_url="http://auth") as http:
        verifier = JwtVerifier(
            jwks_url="http://auth/jwks",
            issuer=issuer.issuer,
            audience="codelab-gateway",
            http=http,
            min_refetch_interval=60.0,
        )
        await verifier.verify(issuer.token())
        for _ in range(20):
            with pytest.raises(InvalidToken):
                await verifier.verify(TestIssuer().token())
    assert server.fetches == 1


def test_bearer_from_header() -> None:
    assert bearer_from_header("Bearer abc") == "abc"
    assert bearer_from_header("bearer  abc ") == "abc"
    assert bearer_from_header("Basic abc") is None
    assert bearer_from_header("Bearer ") is None
    assert bearer_from_header(None) is None


@pytest.mark.parametrize("typ", ["JWT", "at+JWT+x", "id_token", "jwt"])
async def test_wrong_typ_is_rejected(
    verifier: JwtVerifier, issuer: TestIssuer, typ: object
) -> None:
    with pytest.raises(InvalidToken, match="type"):
        await verifier.verify(issuer.token(header={"typ": typ}))


async def test_missing_typ_is_rejected(verifier: JwtVerifier, issuer: TestIssuer) -> None:
    token = jwt.encode({"alg": "RS256", "kid": issuer.kid}, issuer.claims(), issuer.key)
    with pytest.raises(InvalidToken, match="type"):
        await verifier.verify(token)


async def test_media_type_form_of_typ_is_accepted(
    verifier: JwtVerifier, issuer: TestIssuer
) -> None:
    claims = await verifier.verify(issuer.token(header={"typ": "application/at+jwt"}))
    assert claims.jti


@pytest.mark.parametrize(
    ("extra", "reason"),
    [({"nbf": 10**10}, "not yet valid"), ({"iat": 10**10}, "issued in the future")],
)
async def test_not_yet_valid_tokens_are_rejected(
    verifier: JwtVerifier, issuer: TestIssuer, extra: dict[str, int], reason: str
) -> None:
    with pytest.raises(InvalidToken, match="rejected"):
        await verifier.verify(issuer.token(**extra))


async def test_missing_iss_is_rejected(verifier: JwtVerifier, issuer: TestIssuer) -> None:
    claims = issuer.claims()
    del claims["iss"]
    token = jwt.encode({"alg": "RS256", "kid": issuer.kid, "typ": "at+jwt"}, claims, issuer.key)
    with pytest.raises(InvalidToken):
        await verifier.verify(token)


async def test_missing_kid_is_rejected(verifier: JwtVerifier, issuer: TestIssuer) -> None:
    token = jwt.encode({"alg": "RS256", "typ": "at+jwt"}, issuer.claims(), issuer.key)
    with pytest.raises(InvalidToken, match="key id"):
        await verifier.verify(token)


async def test_revoked_jti_is_rejected_when_the_server_checks(
    server: JwksServer, issuer: TestIssuer
) -> None:
    revoked: set[str] = set()

    async def is_revoked(jti: str) -> bool:
        return jti in revoked

    transport = httpx.ASGITransport(app=server.app())
    async with httpx.AsyncClient(transport=transport, base_url="http://auth") as http:
        checking = JwtVerifier(
            jwks_url="http://auth/jwks",
            issuer=issuer.issuer,
            audience="codelab-gateway",
            http=http,
            is_revoked=is_revoked,
        )
        token = issuer.token()
        claims = await checking.verify(token)
        revoked.add(claims.jti)
        with pytest.raises(InvalidToken, match="revoked"):
            await checking.verify(token)


async def test_dpop_bound_token_needs_its_proof(verifier: JwtVerifier, issuer: TestIssuer) -> None:
    key = ECKey.generate_key("P-256")
    token = issuer.token(cnf={"jkt": key.thumbprint()})
    with pytest.raises(InvalidToken, match="DPoP-bound"):
        await verifier.verify(token)  # as a plain bearer token

    def proof(for_token: str, signer: ECKey) -> str:
        head = {"typ": "dpop+jwt", "alg": "ES256", "jwk": signer.as_dict(private=False)}
        claims = {
            "htm": "GET",
            "htu": "https://gw.example/v1/sessions",
            "iat": int(time.time()),
            "jti": uuid.uuid4().hex,
            "ath": access_token_hash(for_token),
        }
        return jwt.encode(head, claims, signer)

    dpop = DpopVerifier()
    url = "https://gw.example/v1/sessions"
    claims = await verifier.verify_dpop(token, proof(token, key), method="GET", url=url, dpop=dpop)
    assert claims.dpop_jkt == key.thumbprint()
    other = ECKey.generate_key("P-256")
    with pytest.raises(InvalidToken, match="not bound"):
        await verifier.verify_dpop(token, proof(token, other), method="GET", url=url, dpop=dpop)
    unbound = issuer.token()
    with pytest.raises(InvalidToken, match="not bound"):
        await verifier.verify_dpop(unbound, proof(unbound, key), method="GET", url=url, dpop=dpop)


class _DecodeCounter:
    """Counts signature checks (joserfc's ``jwt.decode``) made by the verifier."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        real = jwt.decode

        def counting(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(jwt, "decode", counting)


async def test_a_verified_token_is_not_checked_again(
    verifier: JwtVerifier, issuer: TestIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = _DecodeCounter(monkeypatch)
    token = issuer.token(sub="alice")
    first, second = await verifier.verify(token), await verifier.verify(token)
    assert first.sub == second.sub == "alice"
    assert counter.calls == 1
    # A token differing by one byte is a different token: checked, and refused.
    with pytest.raises(InvalidToken):
        await verifier.verify(token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1])
    assert counter.calls == 2


async def test_remembered_tokens_are_bounded(
    verifier: JwtVerifier, issuer: TestIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import codelab_common.jwt as module

    monkeypatch.setattr(module, "VERIFIED_CACHE_SIZE", 1)
    counter = _DecodeCounter(monkeypatch)
    first, second = issuer.token(sub="a"), issuer.token(sub="b")
    for token in (first, second, first, second):
        await verifier.verify(token)
    assert counter.calls == 4


async def test_a_remembered_token_still_expires(
    verifier: JwtVerifier, issuer: TestIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = issuer.token(ttl=60)
    await verifier.verify(token)
    later = time.time() + 60 + 31  # past exp and the 30 s leeway
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(InvalidToken, match="expired"):
        await verifier.verify(token)


async def test_a_remembered_token_dies_with_its_key(
    verifier: JwtVerifier, server: JwksServer, issuer: TestIssuer
) -> None:
    old_token = issuer.token()
    await verifier.verify(old_token)
    rotated = TestIssuer(issuer=issuer.issuer)
    server.issuers = [rotated]  # the old key is withdrawn from the JWKS
    await verifier.verify(rotated.token())  # unknown kid: the verifier refetches
    with pytest.raises(InvalidToken, match="unknown key"):
        await verifier.verify(old_token)
