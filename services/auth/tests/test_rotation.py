"""Scheduled key rotation: next key published before it signs, old key kept until its
tokens expire; a verifier that cached the JWKS early follows without refetching."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from codelab_auth.adapters.models import AuditEvent, RefreshToken, RevokedToken, SigningKey
from codelab_auth.housekeeping import purge_expired
from codelab_auth.rotation import RotationPolicy, maintain, rotate_now
from codelab_common.jwt import JwtVerifier

from .conftest import ISSUER, fresh_postgres_database

POLICY = RotationPolicy(interval=1000, publish_ahead=100, retire_after=200)


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


async def _kids(auth: Any) -> list[str]:
    return [k["kid"] for k in (await auth.http.get("/.well-known/jwks.json")).json()["keys"]]


async def test_scheduled_rotation_lifecycle(boot: Any, sqlite_url: str) -> None:
    async with boot(sqlite_url, key_cache_ttl=0, seed_demo=True) as auth:
        context = auth.context
        secret = context.settings.key_encryption_secret
        [first] = await _kids(auth)
        async with context.sessions() as session:
            born = (await session.get(SigningKey, first)).created_at  # type: ignore[union-attr]

        async def step(seconds: int) -> list[str]:
            return await maintain(
                context.sessions, secret, POLICY, born + timedelta(seconds=seconds)
            )

        assert await step(899) == []
        [published] = await step(900)
        assert published.startswith("published next key")
        kids = await _kids(auth)
        assert len(kids) == 2
        second = next(kid for kid in kids if kid != first)
        verifier = JwtVerifier(
            jwks_url="http://auth/.well-known/jwks.json",
            issuer=ISSUER,
            audience="codelab-gateway",
            http=auth.http,
            min_refetch_interval=3600,  # it must not need a refetch to follow the rotation
        )
        await verifier.warm()
        token = (await auth.login("demo", "demo"))["access_token"]
        assert auth.header(token)["kid"] == first  # published, not yet signing
        assert await step(950) == []
        assert await step(1000) == [f"key {second} now signs"]
        token = (await auth.login("demo", "demo"))["access_token"]
        assert auth.header(token)["kid"] == second
        assert (await verifier.verify(token)).preferred_username == "demo"
        assert set(await _kids(auth)) == {first, second}  # the old key's tokens still verify
        assert await step(1199) == []
        assert await step(1200) == [f"key {first} unpublished"]
        assert await _kids(auth) == [second]
        async with context.sessions() as session:
            events = (await session.scalars(select(AuditEvent.event))).all()
        assert {"key_published", "key_rotated", "key_expired"} <= set(events)


async def test_emergency_rotation_can_drop_the_compromised_key(boot: Any, sqlite_url: str) -> None:
    async with boot(sqlite_url, key_cache_ttl=0) as auth:
        context = auth.context
        [old] = await _kids(auth)
        kept = await rotate_now(context.sessions, context.settings.key_encryption_secret)
        assert set(await _kids(auth)) == {old, kept}
        fresh = await rotate_now(
            context.sessions, context.settings.key_encryption_secret, drop_previous=True
        )
        assert await _kids(auth) == [fresh]


async def test_replicas_rotating_at_once_publish_one_next_key(boot: Any) -> None:
    async with fresh_postgres_database() as url, boot(url) as auth:
        context = auth.context
        secret = context.settings.key_encryption_secret
        async with context.sessions() as session:
            key = await session.scalar(select(SigningKey))
        assert key is not None
        due = key.created_at + timedelta(seconds=900)
        # Every replica's timer fires at the same moment.
        results = await asyncio.gather(
            *(maintain(context.sessions, secret, POLICY, due) for _ in range(3))
        )
        async with context.sessions() as session:
            statuses = (await session.scalars(select(SigningKey.status))).all()
    assert sorted(statuses) == ["active", "next"]
    assert sum(len(done) for done in results) == 1


async def test_rotation_disabled_does_nothing(boot: Any, sqlite_url: str) -> None:
    async with boot(sqlite_url) as auth:
        context = auth.context
        off = RotationPolicy(interval=0, publish_ahead=0, retire_after=200)
        far = timedelta(days=3650)
        async with context.sessions() as session:
            key = await session.scalar(select(SigningKey))
        assert key is not None
        done = await maintain(
            context.sessions, context.settings.key_encryption_secret, off, key.created_at + far
        )
        assert done == []


async def test_expired_rows_are_purged(auth: Any) -> None:
    await auth.login("alice", "alice-password")
    async with auth.context.sessions.begin() as session:
        row = await session.scalar(select(RefreshToken))
        assert row is not None
        session.add(RevokedToken(jti="old", expires_at=row.created_at, reason="test"))
        expires_at = row.expires_at
    now = await purge_expired(auth.context.sessions)
    assert now["refresh_tokens"] == 0  # live
    assert now["revoked_tokens"] == 1  # the revoked token has expired anyway
    later = await purge_expired(auth.context.sessions, expires_at + timedelta(days=2))
    assert later["refresh_tokens"] == 1
