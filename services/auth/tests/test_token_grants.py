"""Token endpoint behaviour per grant, on SQLite and on PostgreSQL (``database_url``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select, update

from codelab_auth.adapters.models import AuditEvent, RefreshToken, User
from codelab_auth.admin import ClientSpec
from codelab_auth.tokens import hash_refresh_token
from codelab_common.jwt import JwtVerifier

from .conftest import CLI_CLIENT

RUNTIME = ("codelab-runtime", "runtime-secret-value")
ISSUER = "http://localhost:8080/auth"


def assert_oauth_error(response: httpx.Response, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    assert body["error"] == error
    return body


async def test_password_grant_issues_user_token(auth: Any) -> None:
    body = await auth.login("alice", "alice-password")
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["scope"] == "sessions:read sessions:write"
    assert body["refresh_token"]
    header, claims = auth.header(body["access_token"]), auth.claims(body["access_token"])
    assert header["alg"] == "RS256"
    assert header["typ"] == "at+jwt"
    assert header["kid"]
    assert claims["iss"] == ISSUER
    assert claims["aud"] == "codelab-gateway"
    assert claims["preferred_username"] == "alice"
    assert claims["client_id"] == "codelab-cli"
    assert claims["roles"] == ["developer"]
    assert claims["exp"] - claims["iat"] == 900


async def test_issued_token_verifies_with_common_verifier(auth: Any) -> None:
    body = await auth.login("bob", "bob-password")
    verifier = JwtVerifier(
        jwks_url="http://auth/.well-known/jwks.json",
        issuer=ISSUER,
        audience="codelab-gateway",
        http=auth.http,
    )
    claims = await verifier.verify(body["access_token"])
    assert claims.roles == ["viewer"]
    assert claims.scopes == {"sessions:read"}  # viewer's role narrows the client's scopes
    assert claims.preferred_username == "bob"


async def test_wrong_password_and_unknown_user_look_the_same(auth: Any) -> None:
    wrong = await auth.token(
        grant_type="password", username="alice", password="nope", client_id="codelab-cli"
    )
    unknown = await auth.token(
        grant_type="password", username="mallory", password="nope", client_id="codelab-cli"
    )
    assert assert_oauth_error(wrong, 400, "invalid_grant") == assert_oauth_error(
        unknown, 400, "invalid_grant"
    )


async def test_password_grant_needs_the_client_flag(auth: Any) -> None:
    await auth.add_client(
        ClientSpec(
            client_id="no-password",
            scopes=("sessions:read",),
            audience="codelab-gateway",
            grant_types=("password", "refresh_token"),
            public=True,
        )
    )
    response = await auth.token(
        grant_type="password", username="alice", password="alice-password", client_id="no-password"
    )
    assert_oauth_error(response, 400, "unauthorized_client")


async def test_refresh_rotates_and_reuse_revokes_the_family(auth: Any) -> None:
    first = await auth.login("alice", "alice-password")
    refresh = {"grant_type": "refresh_token", "client_id": "codelab-cli"}
    second = await auth.token(**refresh, refresh_token=first["refresh_token"])
    assert second.status_code == 200, second.text
    rotated = second.json()["refresh_token"]
    assert rotated != first["refresh_token"]
    assert auth.claims(second.json()["access_token"])["aud"] == "codelab-gateway"

    reused = await auth.token(**refresh, refresh_token=first["refresh_token"])
    assert_oauth_error(reused, 400, "invalid_grant")
    # The reuse killed the whole family, including the newest (never used) token.
    after = await auth.token(**refresh, refresh_token=rotated)
    assert_oauth_error(after, 400, "invalid_grant")
    # A fresh login starts a new family and works.
    again = await auth.login("alice", "alice-password")
    assert (await auth.token(**refresh, refresh_token=again["refresh_token"])).status_code == 200


async def test_refresh_token_is_bound_to_its_client(auth: Any) -> None:
    await auth.add_client(
        ClientSpec(
            client_id="other-cli",
            scopes=("sessions:read",),
            audience="codelab-gateway",
            grant_types=("refresh_token",),
            public=True,
        )
    )
    tokens = await auth.login("alice", "alice-password")
    response = await auth.token(
        grant_type="refresh_token", client_id="other-cli", refresh_token=tokens["refresh_token"]
    )
    assert_oauth_error(response, 400, "invalid_grant")


async def test_revocation_revokes_the_refresh_family(auth: Any) -> None:
    tokens = await auth.login("alice", "alice-password")
    response = await auth.http.post(
        "/oauth/revoke",
        data={"token": tokens["refresh_token"], "client_id": "codelab-cli"},
    )
    assert response.status_code == 200
    refreshed = await auth.token(
        grant_type="refresh_token", client_id="codelab-cli", refresh_token=tokens["refresh_token"]
    )
    assert_oauth_error(refreshed, 400, "invalid_grant")
    # RFC 7009 §2.2: an unknown token (here a JWT access token) is not an error.
    unknown = await auth.http.post(
        "/oauth/revoke", data={"token": tokens["access_token"], "client_id": "codelab-cli"}
    )
    assert unknown.status_code == 200


async def test_client_credentials_basic_and_post(auth: Any) -> None:
    basic = await auth.token(auth=RUNTIME, grant_type="client_credentials")
    post = await auth.token(
        grant_type="client_credentials", client_id=RUNTIME[0], client_secret=RUNTIME[1]
    )
    for response in (basic, post):
        assert response.status_code == 200, response.text
        body = response.json()
        assert "refresh_token" not in body
        claims = auth.claims(body["access_token"])
        assert claims["sub"] == "codelab-runtime"
        assert claims["client_id"] == "codelab-runtime"
        assert claims["aud"] == "codelab-llm-proxy"
        assert claims["scope"] == "llm:invoke"
        assert "preferred_username" not in claims


async def test_client_credentials_bad_secret_is_invalid_client(auth: Any) -> None:
    basic = await auth.token(auth=(RUNTIME[0], "wrong"), grant_type="client_credentials")
    assert_oauth_error(basic, 401, "invalid_client")
    assert basic.headers["www-authenticate"].startswith("Basic")
    post = await auth.token(
        grant_type="client_credentials", client_id=RUNTIME[0], client_secret="wrong"
    )
    assert_oauth_error(post, 401, "invalid_client")


async def test_public_client_cannot_use_client_credentials(auth: Any) -> None:
    response = await auth.token(grant_type="client_credentials", client_id="codelab-cli")
    assert_oauth_error(response, 401, "invalid_client")


async def test_unsupported_and_missing_grant_type(auth: Any) -> None:
    unsupported = await auth.token(grant_type="urn:example:magic", client_id="codelab-cli")
    assert_oauth_error(unsupported, 400, "unsupported_grant_type")
    missing = await auth.token(client_id="codelab-cli")
    assert_oauth_error(missing, 400, "invalid_request")


async def test_scope_outside_what_is_allowed_is_invalid_scope(auth: Any) -> None:
    # sessions:write is a client scope but not one of bob's (viewer) role scopes.
    bob = await auth.token(
        grant_type="password",
        username="bob",
        password="bob-password",
        client_id="codelab-cli",
        scope="sessions:write",
    )
    assert_oauth_error(bob, 400, "invalid_scope")
    runtime = await auth.token(auth=RUNTIME, grant_type="client_credentials", scope="admin")
    assert_oauth_error(runtime, 400, "invalid_scope")
    narrowed = await auth.login("alice", "alice-password", scope="sessions:read")
    assert narrowed["scope"] == "sessions:read"


async def test_resource_parameter_selects_an_allowed_audience(auth: Any) -> None:
    await auth.add_client(
        ClientSpec(
            client_id="ci-bot",
            scopes=("sessions:read",),
            audience="codelab-gateway",
            allowed_audiences=("codelab-llm-proxy",),
            grant_types=("client_credentials",),
            secret="ci-secret",
        )
    )
    chosen = await auth.token(
        auth=("ci-bot", "ci-secret"), grant_type="client_credentials", resource="codelab-llm-proxy"
    )
    assert chosen.status_code == 200, chosen.text
    assert auth.claims(chosen.json()["access_token"])["aud"] == "codelab-llm-proxy"
    refused = await auth.token(
        auth=("ci-bot", "ci-secret"), grant_type="client_credentials", resource="elsewhere"
    )
    assert_oauth_error(refused, 400, "invalid_target")


async def test_repeated_parameter_is_invalid_request(auth: Any) -> None:
    response = await auth.http.post(
        "/oauth/token",
        content="grant_type=client_credentials&scope=a&scope=b",
        headers={"content-type": "application/x-www-form-urlencoded"},
        auth=RUNTIME,
    )
    assert_oauth_error(response, 400, "invalid_request")


async def test_expired_refresh_token_and_disabled_user_are_invalid_grant(auth: Any) -> None:
    expiring = await auth.login("alice", "alice-password")
    other = await auth.login("bob", "bob-password")
    async with auth.context.sessions.begin() as session:
        token_row = await session.scalar(
            select(RefreshToken).where(
                RefreshToken.token_hash == hash_refresh_token(expiring["refresh_token"])
            )
        )
        assert token_row is not None
        token_row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        await session.execute(update(User).where(User.username == "bob").values(disabled=True))
    for tokens in (expiring, other):
        response = await auth.token(
            grant_type="refresh_token",
            client_id="codelab-cli",
            refresh_token=tokens["refresh_token"],
        )
        assert_oauth_error(response, 400, "invalid_grant")
    disabled_login = await auth.token(
        grant_type="password", username="bob", password="bob-password", client_id="codelab-cli"
    )
    assert assert_oauth_error(disabled_login, 400, "invalid_grant")["error_description"] == (
        "Invalid username or password."
    )


async def test_absolute_session_lifetime_caps_every_rotation(boot: Any, database_url: str) -> None:
    async with boot(database_url, session_max_age=3600) as auth:
        await auth.add_user("carol", "carol-password", ["developer"])
        await auth.add_client(CLI_CLIENT)
        first = await auth.login("carol", "carol-password")
        second = await auth.token(
            grant_type="refresh_token",
            client_id="codelab-cli",
            refresh_token=first["refresh_token"],
        )
        assert second.status_code == 200
        async with auth.context.sessions() as session:
            rows = (
                await session.scalars(select(RefreshToken).order_by(RefreshToken.created_at))
            ).all()
        assert len(rows) == 2
        login_at = rows[0].created_at
        # Not 30 days (the per-token TTL): one hour after the login, for both links.
        assert rows[0].expires_at == login_at + timedelta(seconds=3600)
        assert rows[1].expires_at == login_at + timedelta(seconds=3600)


async def test_reuse_revocation_is_audited(auth: Any) -> None:
    first = await auth.login("alice", "alice-password")
    form = {"grant_type": "refresh_token", "client_id": "codelab-cli"}
    await auth.token(**form, refresh_token=first["refresh_token"])
    reuse = await auth.token(**form, refresh_token=first["refresh_token"])
    assert reuse.json()["error"] == "invalid_grant"
    async with auth.context.sessions() as session:
        events = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.event == "refresh_family_revoked")
            )
        ).all()
    assert [event.outcome for event in events] == ["reuse"]
    assert events[0].subject is not None
    assert first["refresh_token"] not in str(events[0].detail)


async def test_rotated_client_secret_is_refused_despite_the_verification_cache(auth: Any) -> None:
    form = {"grant_type": "client_credentials"}
    for _ in range(2):  # the second request is served from the verified-secret cache
        assert (await auth.token(auth=RUNTIME, **form)).status_code == 200
    rotated = ClientSpec(
        client_id="codelab-runtime",
        scopes=("llm:invoke",),
        audience="codelab-llm-proxy",
        grant_types=("client_credentials",),
        secret="a-new-runtime-secret",
    )
    await auth.add_client(rotated)
    assert_oauth_error(await auth.token(auth=RUNTIME, **form), 401, "invalid_client")
    fresh = await auth.token(auth=("codelab-runtime", "a-new-runtime-secret"), **form)
    assert fresh.status_code == 200
    wrong = await auth.token(auth=("codelab-runtime", "not-the-secret"), **form)
    assert_oauth_error(wrong, 401, "invalid_client")
