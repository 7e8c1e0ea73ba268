"""A session's in-memory state while this replica owns it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class HistoryItem:
    """One chat message (OpenAI format) and the turn that produced it."""

    message: dict[str, Any]
    correlation_id: str | None
    agent: str


@dataclass(slots=True)
class SessionState:
    """What the loop needs about a session: where it works, which agent, what was said."""

    session_id: str
    owner: str
    cwd: str
    mode: str
    history: list[HistoryItem] = field(default_factory=list)
    # Tools the user chose "allow always" for, for the rest of this session.
    always_allowed: set[str] = field(default_factory=set)

    def drop_turn(self, correlation_id: str) -> None:
        """Forget what a turn produced (it is about to be run again after a takeover)."""
        self.history = [h for h in self.history if h.correlation_id != correlation_id]
