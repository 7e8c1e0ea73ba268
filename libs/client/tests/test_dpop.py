"""DPoP: proofs checked by the common verifier, tokens bound by the real auth app."""

from __future__ import annotations

import base64
import json
import stat
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.routing import Mount

from codelab_auth.admin import ClientSpec, upsert_client, upsert_user
from codelab_auth.app import create_app
from codelab_auth.settings import AuthSettings
from codelab_client.auth import OAuthClient, PasswordFlow, login, stored_access_token
from codelab_client.credentials import CredentialStore
from codelab_client.dpop import KEY_FILE, AccessToken, DpopKey, authorization_headers
from codelab_client.errors import LoginRequired
from codelab_common.dpop import DpopVerifier, InvalidDpopProof

SERVER = "http://localhost:8080"
CLI_CLIENT = ClientSpec(
    client_id="codelab-cli",
    scopes=("sessions:read", "sessions:write"),
    audience="codelab-gateway",
    grant_types=("password", "refresh_token"),
    public=True,
    allow_password_grant=True,
)


def claims_of(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def test_key_is_private_to_the_user_and_stable(tmp_path: Path) -> None:
    first = DpopKey.load_or_create(tmp_path / "config")
    path = tmp_path / "config" / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "d" in json.loads(path.read_text())
    assert "d" not in first.public_jwk
    assert DpopKey.load_or_create(tmp_path / "config").thumbprint == first.thumbprint


def test_token_request_proof_passes_the_servers_check(tmp_path: Path) -> None:
    key = DpopKey.load_or_create(tmp_path)
    verifier = DpopVerifier()
    url = f"{SERVER}/auth/oauth/token"
    proof = key.proof("POST", url)
    assert verifier.verify(proof, method="POST", url=url) == key.thumbprint
    with pytest.raises(InvalidDpopProof):  # single use
        verifier.verify(proof, method="POST", url=url)
    with pytest.raises(InvalidDpopProof):
        verifier.verify(key.proof("POST", url), method="GET", url=url)


def test_upgrade_headers_carry_a_proof_for_the_http_acp_url(tmp_path: Path) -> None:
    key = DpopKey.load_or_create(tmp_path)
    token = AccessToken("the-token", "DPoP", key)
    headers = authorization_headers(token, "GET", f"{SERVER}/acp")
    assert headers["Authorization"] == "DPoP the-token"
    verifier = DpopVerifier()
    jkt = verifier.verify(
        headers["DPoP"], method="GET", url=f"{SERVER}/acp", access_token="the-token"
    )
    assert jkt == key.thumbprint
    with pytest.raises(InvalidDpopProof):  # ath names this token, not another
        verifier.verify(
            authorization_headers(token, "GET", f"{SERVER}/acp")["DPoP"],
            method="GET",
            url=f"{SERVER}/acp",
            access_token="another-token",
        )


def test_bearer_tokens_stay_bearer(tmp_path: Path) -> None:
    key = DpopKey.load_or_create(tmp_path)
    for token in (AccessToken("t", "Bearer", key), AccessToken("t", "DPoP"), SecretStr("t")):
        assert authorization_headers(token, "GET", f"{SERVER}/acp") == {"Authorization": "Bearer t"}


@pytest.fixture
async def auth_http(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The real auth app (SQLite), mounted under /auth as nginx serves it."""
    settings = AuthSettings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'auth.db'}",
        data_dir=tmp_path,
        issuer=f"{SERVER}/auth",
        key_encryption_secret=SecretStr("test-key-encryption-secret"),
        argon2_time_cost=1,
        argon2_memory_kib=1024,
        argon2_parallelism=1,
        log_json=False,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        context = app.state.auth
        async with context.sessions.begin() as session:
            await upsert_user(session, context.policy.hasher, "alice", ["developer"], "pw-alice")
            await upsert_client(session, context.policy.hasher, CLI_CLIENT)
        site = Starlette(routes=[Mount("/auth", app=app)])
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=site)) as http:
            yield http


async def test_login_and_refresh_stay_bound_to_the_key(
    auth_http: httpx.AsyncClient, tmp_path: Path
) -> None:
    key = DpopKey.load_or_create(tmp_path / "config")
    store = CredentialStore(tmp_path / "config")
    oauth = OAuthClient(SERVER, auth_http, key)
    credentials = await login(store, oauth, PasswordFlow("alice", SecretStr("pw-alice")), "alice")
    assert credentials.token_type == "DPoP"
    first = credentials.access_token.get_secret_value()
    assert claims_of(first)["cnf"] == {"jkt": key.thumbprint}

    # Expire the stored token: the next use refreshes, with a proof from the same key.
    with store.locked():
        store.save(oauth.server, credentials.model_copy(update={"expires_at": time.time()}))
    token = await stored_access_token(store, oauth)
    assert isinstance(token, AccessToken)
    assert token.bound
    assert token.get_secret_value() != first
    assert claims_of(token.get_secret_value())["cnf"] == {"jkt": key.thumbprint}

    # The rotated refresh token is bound too: another key cannot use it.
    with store.locked():
        saved = store.load(oauth.server)
        assert saved is not None
        assert saved.token_type == "DPoP"
        store.save(oauth.server, saved.model_copy(update={"expires_at": time.time()}))
    thief = OAuthClient(SERVER, auth_http, DpopKey.load_or_create(tmp_path / "other"))
    with pytest.raises(LoginRequired, match="bound to another DPoP key"):
        await stored_access_token(store, thief)


async def test_without_a_key_the_token_is_bearer(
    auth_http: httpx.AsyncClient, tmp_path: Path
) -> None:
    store = CredentialStore(tmp_path / "config")
    oauth = OAuthClient(SERVER, auth_http)
    credentials = await login(store, oauth, PasswordFlow("alice", SecretStr("pw-alice")), "alice")
    assert credentials.token_type == "Bearer"
    assert "cnf" not in claims_of(credentials.access_token.get_secret_value())
