"""RFC 7662 introspection and RFC 7009 revocation of access tokens (revoked-jti list),
driven by authlib's AsyncOAuth2Client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest
from authlib.integrations.httpx_client import AsyncOAuth2Client
from sqlalchemy import select

from codelab_auth.adapters.models import AuditEvent, RevokedToken
from codelab_auth.admin import ClientSpec
from codelab_testing.tokens import TestIssuer

from .conftest import BASE, RUNTIME_SECRET

INTROSPECT = f"{BASE}/oauth/introspect"
REVOKE = f"{BASE}/oauth/revoke"


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """Token lookups are covered on PostgreSQL by the grant tests: SQLite only here."""
    return sqlite_url


@pytest.fixture
async def service(auth: Any) -> AsyncIterator[AsyncOAuth2Client]:
    """A resource server's confidential client (client_secret_basic)."""
    async with AsyncOAuth2Client(
        client_id="codelab-runtime",
        client_secret=RUNTIME_SECRET,
        transport=httpx2.ASGITransport(app=auth.app),
    ) as client:
        yield client


async def test_introspection_of_a_live_then_revoked_access_token(
    auth: Any, service: AsyncOAuth2Client, oauth: AsyncOAuth2Client
) -> None:
    tokens = await auth.login("alice", "alice-password")
    access = tokens["access_token"]
    live = (await service.introspect_token(INTROSPECT, token=access)).json()
    claims = auth.claims(access)
    assert live["active"] is True
    assert live["sub"] == claims["sub"]
    assert live["username"] == "alice"
    assert live["scope"] == "sessions:read sessions:write"
    assert live["client_id"] == "codelab-cli"
    assert live["exp"] == claims["exp"]
    # The CLI (a public client) revokes its own access token (RFC 7009).
    revoked = await oauth.revoke_token(REVOKE, token=access, token_type_hint="access_token")
    assert revoked.status_code == 200
    dead = (await service.introspect_token(INTROSPECT, token=access)).json()
    assert dead == {"active": False}
    async with auth.context.sessions() as session:
        row = await session.get(RevokedToken, claims["jti"])
        assert row is not None
        assert row.reason == "revocation"
        events = (await session.scalars(select(AuditEvent.event))).all()
    assert "revocation" in events


async def test_refresh_tokens_only_for_their_own_client(
    auth: Any, service: AsyncOAuth2Client
) -> None:
    tokens = await auth.login("alice", "alice-password")
    answer = await service.introspect_token(INTROSPECT, token=tokens["refresh_token"])
    assert answer.json() == {"active": False}


async def test_used_refresh_token_and_junk_are_inactive(auth: Any) -> None:
    await auth.add_client(
        ClientSpec(
            client_id="confidential-app",
            scopes=("sessions:read",),
            audience="codelab-gateway",
            grant_types=("password", "refresh_token"),
            secret="app-secret",
            allow_password_grant=True,
        )
    )
    first = await auth.token(
        auth=("confidential-app", "app-secret"),
        grant_type="password",
        username="alice",
        password="alice-password",
    )
    refresh = first.json()["refresh_token"]
    creds = ("confidential-app", "app-secret")
    live = await auth.http.post("/oauth/introspect", data={"token": refresh}, auth=creds)
    assert live.json()["active"] is True
    assert live.json()["token_type"] == "refresh_token"
    await auth.token(auth=creds, grant_type="refresh_token", refresh_token=refresh)
    used = await auth.http.post("/oauth/introspect", data={"token": refresh}, auth=creds)
    assert used.json() == {"active": False}
    for junk in ("x", "a.b.c", "eyJhbGciOiJub25lIn0.e30."):
        answer = await auth.http.post("/oauth/introspect", data={"token": junk}, auth=creds)
        assert answer.json() == {"active": False}


async def test_public_clients_cannot_introspect(auth: Any) -> None:
    tokens = await auth.login("alice", "alice-password")
    answer = await auth.http.post(
        "/oauth/introspect", data={"token": tokens["access_token"], "client_id": "codelab-cli"}
    )
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"


async def test_token_from_a_foreign_key_is_inactive(auth: Any, service: AsyncOAuth2Client) -> None:
    foreign = TestIssuer(issuer="http://localhost:8080/auth").token()
    answer = await service.introspect_token(INTROSPECT, token=foreign)
    assert answer.json() == {"active": False}
