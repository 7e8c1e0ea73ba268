"""Admin REST API: admin-scoped tokens for audience codelab-auth; every change audited."""

from __future__ import annotations

from typing import Any

import pytest

from codelab_auth.admin import ClientSpec

OPS = ("ops-bot", "ops-bot-secret-value")


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
async def admin_headers(auth: Any) -> dict[str, str]:
    """A service account allowed the admin scope on the auth audience."""
    await auth.add_client(
        ClientSpec(
            client_id=OPS[0],
            scopes=("admin",),
            audience="codelab-auth",
            grant_types=("client_credentials",),
            secret=OPS[1],
        )
    )
    response = await auth.token(auth=OPS, grant_type="client_credentials")
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def test_manage_users_and_clients(auth: Any, admin_headers: dict[str, str]) -> None:
    put = await auth.http.put(
        "/admin/users/erin",
        json={"roles": ["viewer"], "password": "erin-password"},
        headers=admin_headers,
    )
    assert put.json() == {"username": "erin", "created": True}
    assert (await auth.login("erin", "erin-password"))["scope"] == "sessions:read"
    disable = await auth.http.put(
        "/admin/users/erin", json={"roles": ["viewer"], "disabled": True}, headers=admin_headers
    )
    assert disable.json()["created"] is False
    refused = await auth.token(
        grant_type="password", username="erin", password="erin-password", client_id="codelab-cli"
    )
    assert refused.json()["error"] == "invalid_grant"
    users = (await auth.http.get("/admin/users", headers=admin_headers)).json()
    assert {u["username"]: u["disabled"] for u in users}["erin"] is True
    assert all("password_hash" not in u for u in users)

    bot = await auth.http.put(
        "/admin/clients/ci-bot",
        json={
            "scopes": ["llm:invoke"],
            "audience": "codelab-llm-proxy",
            "grant_types": ["client_credentials"],
            "secret": "ci-bot-secret-value-1",
        },
        headers=admin_headers,
    )
    assert bot.json() == {"client_id": "ci-bot", "created": True}
    token = await auth.token(
        auth=("ci-bot", "ci-bot-secret-value-1"), grant_type="client_credentials"
    )
    assert auth.claims(token.json()["access_token"])["scope"] == "llm:invoke"
    clients = (await auth.http.get("/admin/clients", headers=admin_headers)).json()
    assert "ci-bot" in {c["client_id"] for c in clients}
    assert all("secret" not in c and "secret_hash" not in c for c in clients)

    events = (
        await auth.http.get("/admin/audit", params={"event": "admin_change"}, headers=admin_headers)
    ).json()
    actors = {e["detail"]["actor"] for e in events}
    assert "ops-bot" in actors
    assert "erin-password" not in str(events)
    assert "ci-bot-secret-value-1" not in str(events)


async def test_admin_api_refuses_other_tokens(auth: Any, admin_headers: dict[str, str]) -> None:
    assert (await auth.http.get("/admin/users")).status_code == 401
    user_token = (await auth.login("alice", "alice-password"))["access_token"]
    wrong_audience = await auth.http.get(
        "/admin/users", headers={"Authorization": f"Bearer {user_token}"}
    )
    assert wrong_audience.status_code == 401
    await auth.add_client(
        ClientSpec(
            client_id="reader",
            scopes=("llm:invoke",),
            audience="codelab-auth",
            grant_types=("client_credentials",),
            secret="reader-secret-value",
        )
    )
    token = await auth.token(
        auth=("reader", "reader-secret-value"), grant_type="client_credentials"
    )
    no_scope = await auth.http.get(
        "/admin/users", headers={"Authorization": f"Bearer {token.json()['access_token']}"}
    )
    assert no_scope.status_code == 403
    assert no_scope.json()["code"] == "insufficient_scope"
    bad = await auth.http.put(
        "/admin/users/x", json={"roles": ["god"], "password": "p"}, headers=admin_headers
    )
    assert bad.status_code == 400


async def test_revoked_admin_token_is_refused(auth: Any, admin_headers: dict[str, str]) -> None:
    token = admin_headers["Authorization"].split()[1]
    revoked = await auth.http.post("/oauth/revoke", data={"token": token}, auth=OPS)
    assert revoked.status_code == 200
    assert (await auth.http.get("/admin/users", headers=admin_headers)).status_code == 401
