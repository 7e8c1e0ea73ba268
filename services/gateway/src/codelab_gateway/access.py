"""Who may open, read or drive which session: the registry as the gateway sees it."""

from __future__ import annotations

import time
import uuid

from codelab_common.jwt import AccessTokenClaims
from codelab_common.sessions import SessionChannel, SessionRecord
from codelab_gateway.errors import SessionForbidden, SessionNotFound

SCOPE_READ = "sessions:read"
SCOPE_WRITE = "sessions:write"


def new_session_id() -> str:
    """A fresh session id; the gateway mints them (see docs/architecture.md)."""
    return f"sess_{uuid.uuid4().hex}"


class SessionAccess:
    """Creates registry entries and checks scope and ownership before anything is relayed."""

    def __init__(self, channel: SessionChannel) -> None:
        self._channel = channel

    async def create(self, claims: AccessTokenClaims, cwd: str) -> SessionRecord:
        """Register a new session owned by the caller (needs ``sessions:write``)."""
        claims.require_scope(SCOPE_WRITE)
        record = SessionRecord(
            session_id=new_session_id(), owner=claims.sub, cwd=cwd, created_at=time.time()
        )
        await self._channel.create_session(record)
        return record

    async def authorize(
        self, session_id: str, claims: AccessTokenClaims, scope: str
    ) -> SessionRecord:
        """The session's record if it exists, the caller owns it and holds ``scope``."""
        claims.require_scope(scope)
        record = await self._channel.get_session(session_id)
        if record is None:
            raise SessionNotFound(f"no session {session_id}")
        if record.owner != claims.sub:
            raise SessionForbidden("this session belongs to another user")
        return record
