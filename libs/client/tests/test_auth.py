"""Login, the credentials file, and refresh-token rotation against a real token endpoint."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from codelab_client.auth import OAuthClient, PasswordFlow, login, stored_access_token
from codelab_client.credentials import CredentialStore
from codelab_client.errors import AuthError, LoginRequired
from codelab_client.settings import ClientSettings

PASSWORD = "s3cret-pw"


async def _login(mesh: Any, config_dir: Path, http: httpx.AsyncClient) -> CredentialStore:
    store = CredentialStore(config_dir)
    await login(store, OAuthClient(mesh.url, http), PasswordFlow("dev", SecretStr(PASSWORD)), "dev")
    return store


async def test_password_login_stores_private_file(mesh: Any, config_dir: Path) -> None:
    async with httpx.AsyncClient() as http:
        store = await _login(mesh, config_dir, http)
    assert stat.S_IMODE(os.stat(config_dir).st_mode) == 0o700
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    saved = json.loads(store.path.read_text())["servers"][mesh.url]
    assert saved["access_token"] in mesh.access_tokens
    assert saved["refresh_token"] in mesh.refresh_tokens
    assert saved["expires_at"] > time.time() + 3000
    assert saved["token_endpoint"] == f"{mesh.url}/auth/oauth/token"
    request = mesh.token_requests[0]
    assert request["grant_type"] == "password"
    assert request["client_id"] == "codelab-cli"
    assert "client_secret" not in request


async def test_wrong_password_is_an_auth_error(mesh: Any, config_dir: Path) -> None:
    async with httpx.AsyncClient() as http:
        oauth = OAuthClient(mesh.url, http)
        with pytest.raises(AuthError, match="invalid_grant"):
            await login(
                CredentialStore(config_dir), oauth, PasswordFlow("dev", SecretStr("x")), "dev"
            )
    assert not (config_dir / "credentials.json").exists()


async def test_fresh_token_is_used_without_refresh(mesh: Any, config_dir: Path) -> None:
    async with httpx.AsyncClient() as http:
        store = await _login(mesh, config_dir, http)
        token = await stored_access_token(store, OAuthClient(mesh.url, http))
    assert token.get_secret_value() in mesh.access_tokens
    assert [r["grant_type"] for r in mesh.token_requests] == ["password"]


async def test_near_expiry_refreshes_and_stores_rotated_token(mesh: Any, config_dir: Path) -> None:
    mesh.expires_in = 30  # inside the refresh margin
    async with httpx.AsyncClient() as http:
        store = await _login(mesh, config_dir, http)
        first = store.load(mesh.url)
        assert first is not None
        assert first.refresh_token is not None
        token = await stored_access_token(store, OAuthClient(mesh.url, http))
        second = store.load(mesh.url)
        assert second is not None
        assert second.refresh_token is not None
        assert token.get_secret_value() == second.access_token.get_secret_value()
        assert first.refresh_token.get_secret_value() in mesh.spent_refresh_tokens
        assert second.refresh_token.get_secret_value() in mesh.refresh_tokens
        # the rotated token is the one used next time
        await stored_access_token(store, OAuthClient(mesh.url, http))
        assert second.refresh_token.get_secret_value() in mesh.spent_refresh_tokens
    assert [r["grant_type"] for r in mesh.token_requests] == [
        "password",
        "refresh_token",
        "refresh_token",
    ]
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600


async def test_revoked_refresh_token_means_login_required(mesh: Any, config_dir: Path) -> None:
    mesh.expires_in = 1
    async with httpx.AsyncClient() as http:
        store = await _login(mesh, config_dir, http)
        mesh.refresh_tokens.clear()
        with pytest.raises(LoginRequired):
            await stored_access_token(store, OAuthClient(mesh.url, http))
    assert store.load(mesh.url) is None


async def test_not_logged_in(mesh: Any, config_dir: Path) -> None:
    async with httpx.AsyncClient() as http:
        with pytest.raises(LoginRequired, match="codelab login"):
            await stored_access_token(CredentialStore(config_dir), OAuthClient(mesh.url, http))


def test_config_dir_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("CODELAB_CONFIG_DIR", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert ClientSettings().config_dir == tmp_path / ".config" / "codelab"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert ClientSettings().config_dir == tmp_path / "xdg" / "codelab"
    monkeypatch.setenv("CODELAB_CONFIG_DIR", str(tmp_path / "explicit"))
    assert ClientSettings().config_dir == tmp_path / "explicit"
