"""DPoP (RFC 9449) at the token endpoint: bound access and refresh tokens."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
import redis.asyncio as aioredis
from joserfc import jwt
from joserfc.jwk import ECKey

from codelab_common.jwt import InvalidToken, JwtVerifier

from .conftest import CLI_CLIENT, ISSUER

TOKEN_URL = f"{ISSUER}/oauth/token"


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


def proof(key: ECKey, **claims: Any) -> str:
    head = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
    body = {"htm": "POST", "htu": TOKEN_URL, "iat": int(time.time()), "jti": uuid.uuid4().hex}
    return jwt.encode(head, {**body, **claims}, key)


async def _token(auth: Any, headers: dict[str, str], **form: str) -> Any:
    return await auth.http.post(
        "/oauth/token", data={"client_id": "codelab-cli", **form}, headers=headers
    )


async def test_dpop_bound_tokens(auth: Any) -> None:
    key = ECKey.generate_key("P-256")
    login = await _token(
        auth,
        {"DPoP": proof(key)},
        grant_type="password",
        username="alice",
        password="alice-password",
    )
    body = login.json()
    assert body["token_type"] == "DPoP"
    assert auth.claims(body["access_token"])["cnf"] == {"jkt": key.thumbprint()}
    verifier = JwtVerifier(
        jwks_url="http://auth/.well-known/jwks.json",
        issuer=ISSUER,
        audience="codelab-gateway",
        http=auth.http,
    )
    with pytest.raises(InvalidToken, match="DPoP-bound"):
        await verifier.verify(body["access_token"])  # stolen and replayed as a bearer token
    # The refresh token is bound too: without the proof, or with another key, refused.
    refresh = {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}
    other = ECKey.generate_key("P-256")
    assert (await _token(auth, {}, **refresh)).json()["error"] == "invalid_grant"
    assert (await _token(auth, {"DPoP": proof(other)}, **refresh)).json()[
        "error"
    ] == "invalid_grant"
    rotated = await _token(auth, {"DPoP": proof(key)}, **refresh)
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["token_type"] == "DPoP"


async def test_bad_proofs_are_invalid_dpop_proof(auth: Any) -> None:
    key = ECKey.generate_key("P-256")
    form = {"grant_type": "password", "username": "alice", "password": "alice-password"}
    for bad in (
        proof(key, htu="http://localhost:8080/auth/oauth/revoke"),
        proof(key, htm="GET"),
        proof(key, iat=int(time.time()) - 3600),
        "garbage",
    ):
        response = await _token(auth, {"DPoP": bad}, **form)
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_dpop_proof"
    replayed = proof(key)
    assert (await _token(auth, {"DPoP": replayed}, **form)).status_code == 200
    assert (await _token(auth, {"DPoP": replayed}, **form)).json()["error"] == "invalid_dpop_proof"


async def test_bearer_clients_are_unaffected(auth: Any) -> None:
    body = await auth.login("alice", "alice-password")
    assert body["token_type"] == "Bearer"
    assert "cnf" not in auth.claims(body["access_token"])


async def test_a_proof_is_single_use_across_replicas(boot: Any, sqlite_url: str) -> None:
    prefix = f"test:{uuid.uuid4().hex}:"
    shared = {"redis_url": "redis://127.0.0.1:6379/0", "redis_prefix": prefix}
    form = {"grant_type": "password", "username": "alice", "password": "alice-password"}
    async with boot(sqlite_url, **shared) as one, boot(sqlite_url, **shared) as two:
        await one.add_user("alice", "alice-password", ["developer"])
        await one.add_client(CLI_CLIENT)
        key = ECKey.generate_key("P-256")
        once = proof(key)
        assert (await _token(one, {"DPoP": once}, **form)).status_code == 200
        replayed = await _token(two, {"DPoP": once}, **form)
        assert replayed.json()["error"] == "invalid_dpop_proof"
        assert (await _token(two, {"DPoP": proof(key)}, **form)).status_code == 200
        redis = aioredis.Redis.from_url(shared["redis_url"])
        try:
            keys = [k async for k in redis.scan_iter(f"{prefix}*")]
            if keys:
                await redis.delete(*keys)
        finally:
            await redis.aclose()
