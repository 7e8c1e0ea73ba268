"""``codelab login`` (libs/client) against the real auth app: browser PKCE end to end.

The "browser" is a scripted form post; its redirect is followed with a real HTTP GET
to the CLI's loopback listener.
"""

from __future__ import annotations

import asyncio
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from codelab_client.auth import OAuthClient, login
from codelab_client.browser_login import BrowserFlow
from codelab_client.credentials import CredentialStore
from codelab_client.errors import AuthError

from .conftest import sign_in

SERVER = "http://localhost:8080"


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
async def cli_http(auth: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The CLI's HTTP client; auth mounted under /auth as nginx serves it."""
    site = Starlette(routes=[Mount("/auth", app=auth.app)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=site)) as http:
        yield http


def scripted_browser(
    browser: httpx.AsyncClient, decision: str = "allow"
) -> tuple[list[asyncio.Task[None]], Any]:
    tasks: list[asyncio.Task[None]] = []

    async def drive(url: str) -> None:
        path = url.split("/auth", 1)[1]  # the browser reaches auth directly here
        answer = await sign_in(browser, path, "alice", "alice-password", decision)
        assert answer.status_code == 302
        async with httpx.AsyncClient() as real:  # a real GET to the loopback listener
            done = await real.get(answer.headers["location"])
        assert done.status_code == 200

    def open_url(url: str) -> None:
        tasks.append(asyncio.get_running_loop().create_task(drive(url)))

    return tasks, open_url


async def test_browser_login_stores_tokens_privately(
    auth: Any, browser: httpx.AsyncClient, cli_http: httpx.AsyncClient, tmp_path: Path
) -> None:
    tasks, open_url = scripted_browser(browser)
    store = CredentialStore(tmp_path / "config")
    credentials = await login(
        store, OAuthClient(SERVER, cli_http), BrowserFlow(open_url, timeout=10), None
    )
    await asyncio.gather(*tasks)
    assert auth.claims(credentials.access_token.get_secret_value())["preferred_username"] == "alice"
    assert credentials.refresh_token is not None
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert store.load(SERVER) == credentials


async def test_denied_browser_login_is_an_auth_error(
    auth: Any, browser: httpx.AsyncClient, cli_http: httpx.AsyncClient, tmp_path: Path
) -> None:
    tasks, open_url = scripted_browser(browser, decision="deny")
    store = CredentialStore(tmp_path / "config")
    with pytest.raises(AuthError, match="access_denied"):
        await login(store, OAuthClient(SERVER, cli_http), BrowserFlow(open_url, timeout=10), None)
    await asyncio.gather(*tasks)
    assert store.load(SERVER) is None
