"""Turning a user's TOTP second factor on (new secret, new recovery codes) and off."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from codelab_auth.adapters.models import RecoveryCode, User
from codelab_auth.audit import audit_async
from codelab_auth.errors import InvalidAdminInput
from codelab_auth.totp import Enrollment, TotpCodec, hash_recovery_code


async def _user(session: AsyncSession, username: str) -> User:
    user = await session.scalar(select(User).where(User.username == username))
    if user is None:
        raise InvalidAdminInput(f"no user {username}")
    return user


async def enroll_totp(
    session: AsyncSession, codec: TotpCodec, username: str, actor: str = "cli"
) -> Enrollment:
    """A fresh secret and recovery codes (replacing any previous ones)."""
    user = await _user(session, username)
    enrollment = codec.enroll(username)
    user.totp_secret, user.totp_last_step = enrollment.encrypted_secret, None
    await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    session.add_all(
        RecoveryCode(user_id=user.id, code_hash=hash_recovery_code(code))
        for code in enrollment.recovery_codes
    )
    await session.flush()
    await audit_async(
        session, "admin_change", subject=str(user.id), target="totp", action="enrolled", actor=actor
    )
    return enrollment


async def disable_totp(session: AsyncSession, username: str, actor: str = "cli") -> None:
    user = await _user(session, username)
    user.totp_secret, user.totp_last_step = None, None
    await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    await audit_async(
        session, "admin_change", subject=str(user.id), target="totp", action="disabled", actor=actor
    )
