"""DPoP proof verification (RFC 9449)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from codelab_common.dpop import (
    DpopVerifier,
    InvalidDpopProof,
    RedisReplays,
    access_token_hash,
)

from .conftest import RedisScope

URL = "https://codelab.example/auth/oauth/token"


def proof(key: ECKey, header: dict[str, Any] | None = None, **claims: Any) -> str:
    head = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False), **(header or {})}
    body = {"htm": "POST", "htu": URL, "iat": int(time.time()), "jti": uuid.uuid4().hex, **claims}
    return jwt.encode(head, body, key)


@pytest.fixture
def key() -> ECKey:
    return ECKey.generate_key("P-256")


def test_valid_proof_gives_the_key_thumbprint(key: ECKey) -> None:
    verifier = DpopVerifier()
    assert verifier.verify(proof(key), method="post", url=URL + "?x=1") == key.thumbprint()
    token = "an-access-token"
    bound = proof(key, ath=access_token_hash(token))
    assert verifier.verify(bound, method="POST", url=URL, access_token=token) == key.thumbprint()


@pytest.mark.parametrize(
    ("header", "claims"),
    [
        ({"typ": "JWT"}, {}),
        ({}, {"htm": "GET"}),
        ({}, {"htu": "https://evil.example/auth/oauth/token"}),
        ({}, {"iat": int(time.time()) - 3600}),
        ({}, {"iat": int(time.time()) + 3600}),
        ({}, {"jti": ""}),
    ],
)
def test_bad_proofs_are_rejected(
    key: ECKey, header: dict[str, Any], claims: dict[str, Any]
) -> None:
    with pytest.raises(InvalidDpopProof):
        DpopVerifier().verify(proof(key, header, **claims), method="POST", url=URL)


def test_replay_wrong_ath_private_key_and_foreign_signature(key: ECKey) -> None:
    verifier = DpopVerifier()
    once = proof(key)
    verifier.verify(once, method="POST", url=URL)
    with pytest.raises(InvalidDpopProof, match="already used"):
        verifier.verify(once, method="POST", url=URL)
    with pytest.raises(InvalidDpopProof, match="access token"):
        verifier.verify(proof(key, ath="x"), method="POST", url=URL, access_token="t")
    with pytest.raises(InvalidDpopProof, match="public key"):
        verifier.verify(proof(key, {"jwk": key.as_dict(private=True)}), method="POST", url=URL)
    other = ECKey.generate_key("P-256")
    forged = proof(other, {"jwk": key.as_dict(private=False)})
    with pytest.raises(InvalidDpopProof):
        verifier.verify(forged, method="POST", url=URL)
    for junk in ("", "a.b.c", "not a jwt"):
        with pytest.raises(InvalidDpopProof):
            verifier.verify(junk, method="POST", url=URL)


def test_a_server_with_several_names_accepts_a_proof_for_any_of_them(key: ECKey) -> None:
    urls = ["http://localhost:8080/acp", "http://127.0.0.1:8080/acp"]
    verifier = DpopVerifier()
    assert verifier.verify(proof(key, htu="http://127.0.0.1:8080/acp?x=1"), method="POST", url=urls)
    assert verifier.verify(proof(key, htu="HTTP://LOCALHOST:8080/acp"), method="POST", url=urls)
    with pytest.raises(InvalidDpopProof, match="another URL"):
        verifier.verify(proof(key, htu="http://evil.example/acp"), method="POST", url=urls)


async def test_a_proof_used_at_one_replica_is_refused_at_another(
    key: ECKey, redis_scope: RedisScope
) -> None:
    redis, prefix = redis_scope.client, redis_scope.prefix
    replica_a = DpopVerifier(shared=RedisReplays(redis, prefix))
    replica_b = DpopVerifier(shared=RedisReplays(redis, prefix))
    once = proof(key)
    assert await replica_a.verify_shared(once, method="POST", url=URL) == key.thumbprint()
    with pytest.raises(InvalidDpopProof, match="already used"):
        await replica_b.verify_shared(once, method="POST", url=URL)
    # The entry lives only as long as a proof can be accepted.
    [entry] = [k async for k in redis.scan_iter(f"{prefix}dpop:jti:*")]
    assert 0 < await redis.pttl(entry) <= 65_000
    assert await replica_b.verify_shared(proof(key), method="POST", url=URL)
