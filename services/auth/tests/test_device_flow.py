"""Device authorization grant (RFC 8628): authlib's client polls, a scripted browser
approves; and ``codelab login --device``'s flow from libs/client end to end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client
from starlette.applications import Starlette
from starlette.routing import Mount

from codelab_client.auth import OAuthClient, login
from codelab_client.credentials import CredentialStore
from codelab_client.device_login import DeviceAuthorization, DeviceFlow
from codelab_client.errors import AuthError

from .conftest import BASE, CLI_CLIENT, browser_for, oauth_client_for, parse_form

GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
async def app_harness(boot: Any, sqlite_url: str) -> AsyncIterator[Any]:
    async with boot(sqlite_url, device_poll_interval=0) as auth:
        await auth.add_user("alice", "alice-password", ["developer"])
        await auth.add_client(CLI_CLIENT)
        yield auth


async def approve(app: Any, user_code: str, decision: str = "allow") -> httpx.Response:
    async with browser_for(app) as browser:
        page = await browser.get("/oauth/device", params={"user_code": user_code.lower()})
        assert page.status_code == 200, page.text
        assert "<strong>codelab-cli</strong>" in page.text  # which client asks, by name
        data = {
            **parse_form(page.text).fields,
            "username": "alice",
            "password": "alice-password",
            "decision": decision,
        }
        return await browser.post("/oauth/device", data=data)


async def _start(oauth: AsyncOAuth2Client) -> dict[str, Any]:
    response = await oauth.request(
        "POST",
        f"{BASE}/oauth/device_authorization",
        data={"client_id": "codelab-cli"},
        withhold_token=True,
    )
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    assert body["verification_uri"] == "http://localhost:8080/auth/oauth/device"
    return body


async def test_device_flow_with_authlib_client(app_harness: Any) -> None:
    async with oauth_client_for(app_harness.app) as oauth:
        grant = await _start(oauth)
        with pytest.raises(OAuthError) as pending:
            await oauth.fetch_token(
                f"{BASE}/oauth/token", grant_type=GRANT, device_code=grant["device_code"]
            )
        assert pending.value.error == "authorization_pending"
        approved = await approve(app_harness.app, grant["user_code"])
        assert approved.status_code == 200
        assert "Device connected" in approved.text
        token = await oauth.fetch_token(
            f"{BASE}/oauth/token", grant_type=GRANT, device_code=grant["device_code"]
        )
        assert app_harness.claims(token["access_token"])["preferred_username"] == "alice"
        assert token["refresh_token"]
        with pytest.raises(OAuthError) as again:
            await oauth.fetch_token(
                f"{BASE}/oauth/token", grant_type=GRANT, device_code=grant["device_code"]
            )
        assert again.value.error == "invalid_grant"


async def test_denied_device_and_unknown_code(app_harness: Any) -> None:
    async with oauth_client_for(app_harness.app) as oauth:
        grant = await _start(oauth)
        await approve(app_harness.app, grant["user_code"], decision="deny")
        with pytest.raises(OAuthError) as denied:
            await oauth.fetch_token(
                f"{BASE}/oauth/token", grant_type=GRANT, device_code=grant["device_code"]
            )
        assert denied.value.error == "access_denied"
    async with browser_for(app_harness.app) as browser:
        unknown = await browser.get("/oauth/device", params={"user_code": "ZZZZ-ZZZZ"})
    assert unknown.status_code == 400
    assert "not valid" in unknown.text


async def test_polling_too_fast_is_slow_down(auth: Any) -> None:
    async with oauth_client_for(auth.app) as oauth:
        grant = await _start(oauth)
        errors = []
        for _ in range(2):
            with pytest.raises(OAuthError) as raised:
                await oauth.fetch_token(
                    f"{BASE}/oauth/token", grant_type=GRANT, device_code=grant["device_code"]
                )
            errors.append(raised.value.error)
    assert errors == ["authorization_pending", "slow_down"]


async def test_codelab_login_device(app_harness: Any, tmp_path: Path) -> None:
    site = Starlette(routes=[Mount("/auth", app=app_harness.app)])
    tasks: list[asyncio.Task[httpx.Response]] = []

    def show(grant: DeviceAuthorization) -> None:
        tasks.append(
            asyncio.get_running_loop().create_task(approve(app_harness.app, grant.user_code))
        )

    store = CredentialStore(tmp_path / "config")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=site)) as http:
        oauth = OAuthClient("http://localhost:8080", http)
        credentials = await login(store, oauth, DeviceFlow(show), None)
        await asyncio.gather(*tasks)
        assert app_harness.claims(credentials.access_token.get_secret_value())["sub"]
        assert store.load("http://localhost:8080") is not None

        def deny(grant: DeviceAuthorization) -> None:
            tasks.append(
                asyncio.get_running_loop().create_task(
                    approve(app_harness.app, grant.user_code, decision="deny")
                )
            )

        with pytest.raises(AuthError, match="access_denied"):
            await login(store, oauth, DeviceFlow(deny), None)
