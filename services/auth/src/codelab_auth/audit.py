"""The audit trail: a row in ``audit_events`` and a structured log line per event.

Callers pass identifiers only (user id, client id, jti, family id, kid): never a
secret, password, token or code. Works on a sync session (authlib hooks) and is
awaited through :func:`audit_async` elsewhere.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from codelab_auth.adapters.models import AuditEvent

log = logging.getLogger("codelab_auth.audit")
FAILURE_OUTCOMES = frozenset({"failure", "denied", "reuse", "locked"})


def _event(
    event: str,
    outcome: str,
    subject: str | None,
    client_id: str | None,
    ip: str | None,
    detail: dict[str, Any],
) -> AuditEvent:
    level = logging.WARNING if outcome in FAILURE_OUTCOMES else logging.INFO
    log.log(
        level,
        f"audit: {event} {outcome}",
        extra={
            "audit_event": event,
            "outcome": outcome,
            "subject": subject,
            "client_id": client_id,
            "ip": ip,
            **detail,
        },
    )
    return AuditEvent(
        event=event, outcome=outcome, subject=subject, client_id=client_id, ip=ip, detail=detail
    )


def audit(
    session: Session,
    event: str,
    *,
    outcome: str = "success",
    subject: str | None = None,
    client_id: str | None = None,
    ip: str | None = None,
    **detail: Any,
) -> None:
    """Record ``event`` on a synchronous session (inside ``run_sync``)."""
    session.add(_event(event, outcome, subject, client_id, ip, detail))


async def audit_async(
    session: AsyncSession,
    event: str,
    *,
    outcome: str = "success",
    subject: str | None = None,
    client_id: str | None = None,
    ip: str | None = None,
    **detail: Any,
) -> None:
    """Record ``event`` on an async session; the caller commits."""
    session.add(_event(event, outcome, subject, client_id, ip, detail))
