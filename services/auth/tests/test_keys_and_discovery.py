"""Signing keys (persistence, encryption at rest, rotation), JWKS and discovery."""

from __future__ import annotations

from typing import Any

import pytest
from joserfc.jwk import RSAKey
from sqlalchemy import select

from codelab_auth.adapters.models import SigningKey
from codelab_auth.errors import KeyDecryptionError
from codelab_auth.rotation import rotate_now as rotate_key

ISSUER = "http://localhost:8080/auth"


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """Nothing here depends on the database engine: SQLite only (grants cover PostgreSQL)."""
    return sqlite_url


async def test_discovery_lists_exactly_what_is_supported(auth: Any) -> None:
    response = await auth.http.get("/.well-known/openid-configuration")
    assert response.status_code == 200
    assert response.json() == {
        "issuer": ISSUER,
        "authorization_endpoint": f"{ISSUER}/oauth/authorize",
        "token_endpoint": f"{ISSUER}/oauth/token",
        "device_authorization_endpoint": f"{ISSUER}/oauth/device_authorization",
        "jwks_uri": f"{ISSUER}/.well-known/jwks.json",
        "revocation_endpoint": f"{ISSUER}/oauth/revoke",
        "introspection_endpoint": f"{ISSUER}/oauth/introspect",
        "grant_types_supported": [
            "authorization_code",
            "urn:ietf:params:oauth:grant-type:device_code",
            "password",
            "refresh_token",
            "client_credentials",
        ],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": [
            "none",
            "client_secret_basic",
            "client_secret_post",
        ],
        "revocation_endpoint_auth_methods_supported": [
            "none",
            "client_secret_basic",
            "client_secret_post",
        ],
        "introspection_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
        ],
        "scopes_supported": ["admin", "llm:admin", "llm:invoke", "sessions:read", "sessions:write"],
        "dpop_signing_alg_values_supported": ["ES256", "RS256", "EdDSA"],
    }


async def test_jwks_publishes_the_public_signing_key(auth: Any) -> None:
    document = (await auth.http.get("/.well-known/jwks.json")).json()
    [jwk] = document["keys"]
    assert jwk["kty"] == "RSA"
    assert jwk["alg"] == "RS256"
    assert jwk["use"] == "sig"
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(jwk)  # public half only
    key = RSAKey.import_key(jwk)
    assert jwk["kid"] == key.thumbprint()  # RFC 7638
    assert len(key.public_key.public_numbers().n.to_bytes(256, "big")) * 8 == 2048
    token = (await auth.login("alice", "alice-password"))["access_token"]
    assert auth.header(token)["kid"] == jwk["kid"]


async def test_private_key_is_encrypted_at_rest(auth: Any) -> None:
    async with auth.context.sessions() as session:
        row = await session.scalar(select(SigningKey))
    assert row is not None
    assert row.private_key_encrypted.startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    with pytest.raises(TypeError):  # cryptography: encrypted key, no password given
        RSAKey.import_key(row.private_key_encrypted.encode())


async def test_keys_persist_across_restarts(boot: Any, sqlite_url: str) -> None:
    async with boot(sqlite_url) as first:
        kid = (await first.http.get("/.well-known/jwks.json")).json()["keys"][0]["kid"]
    async with boot(sqlite_url) as second:
        keys = (await second.http.get("/.well-known/jwks.json")).json()["keys"]
    assert [k["kid"] for k in keys] == [kid]


async def test_wrong_key_secret_fails_startup_loudly(boot: Any, sqlite_url: str) -> None:
    async with boot(sqlite_url):
        pass
    with pytest.raises(KeyDecryptionError):
        async with boot(sqlite_url, key_encryption_secret="another-secret"):
            pass


async def test_rotation_publishes_both_and_signs_with_the_new_key(
    boot: Any, sqlite_url: str
) -> None:
    async with boot(sqlite_url, key_cache_ttl=0, seed_demo=True) as harness:
        old_kid = (await harness.http.get("/.well-known/jwks.json")).json()["keys"][0]["kid"]
        context = harness.context
        new_kid = await rotate_key(context.sessions, context.settings.key_encryption_secret)
        kids = {k["kid"] for k in (await harness.http.get("/.well-known/jwks.json")).json()["keys"]}
        assert kids == {old_kid, new_kid}
        token = (await harness.login("demo", "demo"))["access_token"]
        assert harness.header(token)["kid"] == new_kid


async def test_seeding_is_idempotent(boot: Any, sqlite_url: str) -> None:
    for _ in range(2):
        async with boot(sqlite_url, seed_demo=True) as harness:
            tokens = await harness.login("demo", "demo")
            assert harness.claims(tokens["access_token"])["roles"] == ["developer"]


async def test_other_errors_are_problem_json(auth: Any) -> None:
    response = await auth.http.get("/oauth/token")
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"
    ready = await auth.http.get("/readyz")
    assert ready.json() == {"status": "ready", "checks": {"database": "ok"}}
