"""A session's in-memory state while this replica owns it."""

from __future__ import annotations

import json
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
    # The plan as last written (ACP plan entries), re-sent on session/load.
    plan: list[dict[str, Any]] | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0


def estimate_tokens(message: dict[str, Any]) -> int:
    """A rough token count of one chat message (~4 characters a token, plus overhead).

    The runtime has no tokenizer for whatever model the proxy routes to; an estimate
    that errs on the high side is enough to decide when to condense.
    """
    size = len(json.dumps(message, ensure_ascii=False, default=str))
    return size // 4 + 4


def estimate_history_tokens(state: SessionState) -> int:
    return sum(estimate_tokens(h.message) for h in state.history)
