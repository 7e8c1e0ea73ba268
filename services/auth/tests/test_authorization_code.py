"""Authorization code + PKCE, driven by authlib's AsyncOAuth2Client and a scripted form post."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client
from sqlalchemy import func, select

from codelab_auth.adapters.models import AuthorizationCode, RefreshToken, RevokedToken

from .conftest import BASE, REDIRECT, browser_for, parse_form, sign_in


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """SQLite only: the single-use claim is the refresh tokens' UPDATE, tested on both."""
    return sqlite_url


def _query(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def _code(
    oauth: AsyncOAuth2Client, browser: httpx.AsyncClient, **extra: Any
) -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    url, state = oauth.create_authorization_url(
        f"{BASE}/oauth/authorize", code_verifier=verifier, **extra
    )
    response = await sign_in(browser, url, "alice", "alice-password")
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT)
    assert _query(location)["state"] == state
    return location, verifier


async def test_code_flow_with_pkce_issues_tokens(
    auth: Any, oauth: AsyncOAuth2Client, browser: httpx.AsyncClient
) -> None:
    location, verifier = await _code(oauth, browser)
    token = await oauth.fetch_token(
        f"{BASE}/oauth/token", authorization_response=location, code_verifier=verifier
    )
    claims = auth.claims(token["access_token"])
    assert claims["aud"] == "codelab-gateway"
    assert claims["preferred_username"] == "alice"
    assert token["scope"] == "sessions:read sessions:write"
    assert token["refresh_token"]
    # The refresh token rotates like any other (the authlib client does the refresh).
    refreshed = await oauth.refresh_token(f"{BASE}/oauth/token")
    assert refreshed["refresh_token"] != token["refresh_token"]


async def test_replayed_code_fails_and_revokes_what_it_issued(
    auth: Any, oauth: AsyncOAuth2Client, browser: httpx.AsyncClient
) -> None:
    location, verifier = await _code(oauth, browser)
    token = await oauth.fetch_token(
        f"{BASE}/oauth/token", authorization_response=location, code_verifier=verifier
    )
    code = _query(location)["code"]
    replay = await auth.token(
        grant_type="authorization_code",
        code=code,
        client_id="codelab-cli",
        redirect_uri=REDIRECT,
        code_verifier=verifier,
    )
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    refresh = await auth.token(
        grant_type="refresh_token", client_id="codelab-cli", refresh_token=token["refresh_token"]
    )
    assert refresh.json()["error"] == "invalid_grant"
    jti = auth.claims(token["access_token"])["jti"]
    async with auth.context.sessions() as session:
        assert await session.get(RevokedToken, jti) is not None
        live = await session.scalar(
            select(func.count()).select_from(RefreshToken).where(RefreshToken.revoked_at.is_(None))
        )
        assert live == 0


async def test_wrong_verifier_is_invalid_grant(
    auth: Any, oauth: AsyncOAuth2Client, browser: httpx.AsyncClient
) -> None:
    location, _ = await _code(oauth, browser)
    with pytest.raises(OAuthError) as raised:
        await oauth.fetch_token(
            f"{BASE}/oauth/token",
            authorization_response=location,
            code_verifier=secrets.token_urlsafe(48),
        )
    assert raised.value.error == "invalid_grant"


async def test_plain_and_missing_challenge_are_rejected_by_redirect(
    auth: Any, browser: httpx.AsyncClient
) -> None:
    base = {
        "response_type": "code",
        "client_id": "codelab-cli",
        "redirect_uri": REDIRECT,
        "state": "s1",
    }
    for extra in (
        {},
        {"code_challenge": "a" * 43, "code_challenge_method": "plain"},
        {"code_challenge": "a" * 43},
    ):
        response = await browser.get("/oauth/authorize", params={**base, **extra})
        assert response.status_code == 302
        query = _query(response.headers["location"])
        assert query["error"] == "invalid_request"
        assert query["state"] == "s1"
    async with auth.context.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(AuthorizationCode)) == 0


async def test_loopback_port_is_free_but_nothing_else(
    auth: Any, browser: httpx.AsyncClient
) -> None:
    challenge = {"code_challenge": "a" * 43, "code_challenge_method": "S256"}
    base = {"response_type": "code", "client_id": "codelab-cli", **challenge}
    ok = await browser.get(
        "/oauth/authorize", params={**base, "redirect_uri": "http://127.0.0.1:9/callback"}
    )
    assert ok.status_code == 200
    for bad in (
        "http://127.0.0.1:9/callbacks",
        "http://127.0.0.1:9/callback/",
        "http://127.0.0.2:9/callback",
        "http://localhost:9/callback",
        "https://127.0.0.1:9/callback",
        "http://127.0.0.1:9/callback?x=1",
        "http://127.0.0.1:9@evil.example/callback",
        "http://evil.example/callback",
    ):
        response = await browser.get("/oauth/authorize", params={**base, "redirect_uri": bad})
        # Never redirect to an unregistered URI (no open redirect): an error page.
        assert response.status_code == 400, bad
        assert "location" not in response.headers
        assert "invalid_request" in response.text


async def test_login_page_is_protected_and_accessible(
    auth: Any, browser: httpx.AsyncClient
) -> None:
    params = {
        "response_type": "code",
        "client_id": "codelab-cli",
        "redirect_uri": REDIRECT,
        "code_challenge": "a" * 43,
        "code_challenge_method": "S256",
    }
    page = await browser.get("/oauth/authorize", params=params)
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    assert '<html lang="en">' in page.text
    form = parse_form(page.text)
    assert {"username", "password"} <= form.labels
    data = {**form.fields, "username": "alice", "password": "alice-password", "decision": "allow"}
    # Without the cookie (a cross-site post), or with a forged field: refused, no code.
    async with browser_for(auth.app) as stranger:
        forged = await stranger.post("/oauth/authorize", data=data)
    assert forged.status_code == 403
    tampered = await browser.post("/oauth/authorize", data={**data, "csrf_token": "x" * 43})
    assert tampered.status_code == 403
    wrong = await browser.post("/oauth/authorize", data={**data, "password": "nope"})
    assert wrong.status_code == 401
    assert "Invalid username or password." in wrong.text
    # The re-rendered form carries a fresh CSRF token (and cookie).
    data = {**data, **parse_form(wrong.text).fields, "username": "nobody"}
    unknown = await browser.post("/oauth/authorize", data=data)
    assert unknown.status_code == 401
    assert "Invalid username or password." in unknown.text
    async with auth.context.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(AuthorizationCode)) == 0


async def test_deny_redirects_with_access_denied(
    auth: Any, oauth: AsyncOAuth2Client, browser: httpx.AsyncClient
) -> None:
    url, state = oauth.create_authorization_url(
        f"{BASE}/oauth/authorize", code_verifier=secrets.token_urlsafe(48)
    )
    response = await sign_in(browser, url, "alice", "alice-password", decision="deny")
    assert response.status_code == 302
    query = _query(response.headers["location"])
    assert (query["error"], query["state"]) == ("access_denied", state)
    assert "code" not in query


async def test_viewer_gets_only_what_the_role_allows(
    auth: Any, oauth: AsyncOAuth2Client, browser: httpx.AsyncClient
) -> None:
    verifier = secrets.token_urlsafe(48)
    url, _ = oauth.create_authorization_url(f"{BASE}/oauth/authorize", code_verifier=verifier)
    response = await sign_in(browser, url, "bob", "bob-password")
    token = await oauth.fetch_token(
        f"{BASE}/oauth/token",
        authorization_response=response.headers["location"],
        code_verifier=verifier,
    )
    assert token["scope"] == "sessions:read"
