"""Signing-key lifecycle: next → active → retired → expired.

Scheduled rotation without downtime: a *next* key is published in the JWKS
``publish_ahead`` seconds before it signs, so every verifier has it cached by the time
tokens carry its ``kid``; the replaced key stays published (*retired*) until the last
token it signed has expired, then drops out (*expired*). An emergency rotation
(``codelab-auth keys rotate``) makes a new key sign at once; ``--drop-previous`` also
unpublishes the old one (for a compromised key: its tokens stop verifying).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from codelab_auth.adapters.models import SigningKey, utcnow
from codelab_auth.audit import audit_async
from codelab_auth.keys import (
    ACTIVE,
    EXPIRED,
    KEY_LIFECYCLE_LOCK,
    NEXT,
    RETIRED,
    new_signing_key,
)
from codelab_common.db import serialise_across_replicas

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RotationPolicy:
    """How often keys rotate and how long each phase lasts (seconds)."""

    interval: int  # age at which the active key is replaced; 0 = never (manual only)
    publish_ahead: int  # how long a next key is published before it signs
    retire_after: int  # how long a retired key stays published (>= access-token TTL)


async def _keys(session: AsyncSession, *statuses: str) -> list[SigningKey]:
    rows = await session.scalars(
        select(SigningKey)
        .where(SigningKey.status.in_(statuses))
        .order_by(SigningKey.created_at.desc())
    )
    return list(rows.all())


def _retire(row: SigningKey, now: datetime, status: str = RETIRED) -> None:
    row.status = status
    row.retired_at = now


async def maintain(
    sessions: async_sessionmaker[AsyncSession],
    secret: SecretStr,
    policy: RotationPolicy,
    now: datetime | None = None,
) -> list[str]:
    """Advance the lifecycle by whatever is due at ``now``; returns what happened."""
    now = now or utcnow()
    done: list[str] = []
    async with sessions.begin() as session:
        # Every replica runs this on a timer: without the lock two could both see no next
        # key and each publish one.
        await serialise_across_replicas(session, KEY_LIFECYCLE_LOCK)
        active = await _keys(session, ACTIVE)
        upcoming = await _keys(session, NEXT)
        if policy.interval > 0 and active:
            age = now - active[0].created_at
            if not upcoming and age >= timedelta(seconds=policy.interval - policy.publish_ahead):
                row, _ = await asyncio.to_thread(new_signing_key, secret, NEXT)
                row.created_at = now
                session.add(row)
                done.append(f"published next key {row.kid}")
                await audit_async(session, "key_published", kid=row.kid)
            elif upcoming and now - upcoming[0].created_at >= timedelta(
                seconds=policy.publish_ahead
            ):
                for old in active:
                    _retire(old, now)
                upcoming[0].status = ACTIVE
                done.append(f"key {upcoming[0].kid} now signs")
                await audit_async(session, "key_rotated", kid=upcoming[0].kid, reason="scheduled")
        for old in await _keys(session, RETIRED):
            retired_at = old.retired_at or old.created_at
            if now - retired_at >= timedelta(seconds=policy.retire_after):
                old.status = EXPIRED
                done.append(f"key {old.kid} unpublished")
                await audit_async(session, "key_expired", kid=old.kid)
    for line in done:
        log.info("signing keys: %s", line)
    return done


async def rotate_now(
    sessions: async_sessionmaker[AsyncSession], secret: SecretStr, *, drop_previous: bool = False
) -> str:
    """Emergency rotation: a new key signs immediately. Returns its kid."""
    row, _ = await asyncio.to_thread(new_signing_key, secret)
    now = utcnow()
    async with sessions.begin() as session:
        await serialise_across_replicas(session, KEY_LIFECYCLE_LOCK)
        for old in await _keys(session, ACTIVE, NEXT, *((RETIRED,) if drop_previous else ())):
            _retire(old, now, EXPIRED if drop_previous else RETIRED)
        row.created_at = now
        session.add(row)
        await audit_async(
            session, "key_rotated", kid=row.kid, reason="manual", dropped_previous=drop_previous
        )
    return row.kid


async def key_table(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[str, str, str]]:
    """(kid, status, created_at) of every key, newest first (``codelab-auth keys list``)."""
    async with sessions() as session:
        rows = await _keys(session, NEXT, ACTIVE, RETIRED, EXPIRED)
    return [(row.kid, row.status, row.created_at.isoformat()) for row in rows]
