"""Synchronous data access used by authlib's hooks (inside ``AsyncSession.run_sync``)."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from codelab_auth.adapters.models import (
    AuthorizationCode,
    Client,
    RecoveryCode,
    RefreshToken,
    RevokedToken,
    User,
    utcnow,
)
from codelab_auth.audit import audit
from codelab_auth.tokens import hash_refresh_token

log = logging.getLogger(__name__)


class OAuthStore:
    """Reads and writes for one token request, on the request's session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def client(self, client_id: str) -> Client | None:
        return self.session.get(Client, client_id)

    def user_by_name(self, username: str) -> User | None:
        return self.session.scalar(select(User).where(User.username == username))

    def user(self, user_id: uuid.UUID) -> User | None:
        return self.session.get(User, user_id)

    def refresh_token(self, token: str) -> RefreshToken | None:
        return self.session.scalar(
            select(RefreshToken).where(RefreshToken.token_hash == hash_refresh_token(token))
        )

    def add_refresh_token(
        self,
        token: str,
        *,
        user_id: uuid.UUID,
        client_id: str,
        scope: str,
        audience: str,
        ttl: int,
        parent: RefreshToken | None,
        max_age: int | None = None,
        dpop_jkt: str | None = None,
    ) -> RefreshToken:
        """Store the hash of ``token``: a new family, or the next link of ``parent``'s.

        Each token lives ``ttl``, but never past ``max_age`` after the family's first
        token (the login): rotation cannot stretch a session forever.
        """
        now = utcnow()
        expires_at = now + timedelta(seconds=ttl)
        if max_age is not None:
            started = now
            if parent is not None:
                started = (
                    self.session.scalar(
                        select(func.min(RefreshToken.created_at)).where(
                            RefreshToken.family_id == parent.family_id
                        )
                    )
                    or parent.created_at
                )
            expires_at = min(expires_at, started + timedelta(seconds=max_age))
        row = RefreshToken(
            token_hash=hash_refresh_token(token),
            family_id=parent.family_id if parent else uuid.uuid4(),
            user_id=user_id,
            client_id=client_id,
            scope=scope,
            audience=audience,
            parent_id=parent.id if parent else None,
            created_at=now,
            expires_at=expires_at,
            dpop_jkt=dpop_jkt,
        )
        self.session.add(row)
        self.session.flush()
        return row

    def claim(self, row: RefreshToken, now: datetime | None = None) -> bool:
        """Mark ``row`` used, atomically: False when someone used or revoked it first.

        A conditional UPDATE rather than read-then-write, so two concurrent refreshes
        with the same token cannot both succeed.
        """
        result = self.session.execute(
            update(RefreshToken)
            .where(
                RefreshToken.id == row.id,
                RefreshToken.used_at.is_(None),
                RefreshToken.revoked_at.is_(None),
            )
            .values(used_at=now or utcnow())
            .execution_options(synchronize_session=False)
        )
        assert isinstance(result, CursorResult)
        return result.rowcount == 1

    def add_code(self, row: AuthorizationCode) -> None:
        self.session.add(row)
        self.session.flush()

    def code(self, code: str, client_id: str) -> AuthorizationCode | None:
        # Codes are stored like refresh tokens: only a hash, compared by lookup.
        return self.session.scalar(
            select(AuthorizationCode).where(
                AuthorizationCode.code_hash == hash_refresh_token(code),
                AuthorizationCode.client_id == client_id,
            )
        )

    def claim_code(self, row: AuthorizationCode) -> bool:
        """Mark a code used, atomically: False when it was used already (a replay)."""
        result = self.session.execute(
            update(AuthorizationCode)
            .where(AuthorizationCode.id == row.id, AuthorizationCode.used_at.is_(None))
            .values(used_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        assert isinstance(result, CursorResult)
        return result.rowcount == 1

    def record_code_issue(
        self, row: AuthorizationCode, family_id: uuid.UUID | None, jti: str | None
    ) -> None:
        """Remember what the exchange of ``row`` issued, for revocation on replay."""
        self.session.execute(
            update(AuthorizationCode)
            .where(AuthorizationCode.id == row.id)
            .values(family_id=family_id, access_jti=jti)
            .execution_options(synchronize_session=False)
        )

    def claim_totp_step(self, user: User, step: int) -> bool:
        """Record ``step`` as used, atomically: False when it (or a later one) was used."""
        result = self.session.execute(
            update(User)
            .where(
                User.id == user.id,
                (User.totp_last_step.is_(None)) | (User.totp_last_step < step),
            )
            .values(totp_last_step=step)
            .execution_options(synchronize_session=False)
        )
        assert isinstance(result, CursorResult)
        return result.rowcount == 1

    def claim_recovery_code(self, user: User, code_hash: str) -> bool:
        """Use a recovery code once."""
        result = self.session.execute(
            update(RecoveryCode)
            .where(
                RecoveryCode.user_id == user.id,
                RecoveryCode.code_hash == code_hash,
                RecoveryCode.used_at.is_(None),
            )
            .values(used_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        assert isinstance(result, CursorResult)
        return result.rowcount == 1

    def revoke_jti(self, jti: str, expires_at: datetime, reason: str) -> None:
        """Add an access token id to the revoked list (idempotent)."""
        if self.session.get(RevokedToken, jti) is None:
            self.session.add(RevokedToken(jti=jti, expires_at=expires_at, reason=reason))
            self.session.flush()

    def is_jti_revoked(self, jti: str) -> bool:
        return self.session.get(RevokedToken, jti) is not None

    def revoke_family(self, family_id: uuid.UUID, *, reuse: bool) -> None:
        """Revoke every token of a family: reuse was detected, or a client asked."""
        result = self.session.execute(
            update(RefreshToken)
            .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        assert isinstance(result, CursorResult)
        log.log(
            logging.WARNING if reuse else logging.INFO,
            "refresh-token family revoked",
            extra={
                "family_id": str(family_id),
                "reason": "reuse" if reuse else "revocation",
                "tokens": result.rowcount,
            },
        )
        owner = self.session.scalar(
            select(RefreshToken.user_id).where(RefreshToken.family_id == family_id).limit(1)
        )
        audit(
            self.session,
            "refresh_family_revoked",
            outcome="reuse" if reuse else "success",
            subject=str(owner) if owner else None,
            family_id=str(family_id),
            tokens=result.rowcount,
        )
