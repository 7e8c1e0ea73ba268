"""Deleting rows that can no longer matter, so the tables stay the size of live state.

Kept a day past expiry: a replayed code or refresh token is still recognised (and its
family revoked) for that long; after that it is simply unknown, which is also refused.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import CursorResult, delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from codelab_auth.adapters.models import (
    AuthorizationCode,
    DeviceCode,
    RefreshToken,
    RevokedToken,
    utcnow,
)

GRACE = timedelta(days=1)


async def purge_expired(
    sessions: async_sessionmaker[AsyncSession], now: datetime | None = None
) -> dict[str, int]:
    """Delete expired codes, device codes, refresh tokens and revoked-jti entries."""
    now = now or utcnow()
    deleted: dict[str, int] = {}
    async with sessions.begin() as session:
        for model, cutoff in (
            (AuthorizationCode, now - GRACE),
            (DeviceCode, now - GRACE),
            (RefreshToken, now - GRACE),
            (RevokedToken, now),  # the token itself is expired: nothing left to refuse
        ):
            result = await session.execute(delete(model).where(model.expires_at < cutoff))
            assert isinstance(result, CursorResult)
            deleted[model.__tablename__] = result.rowcount
    return deleted
