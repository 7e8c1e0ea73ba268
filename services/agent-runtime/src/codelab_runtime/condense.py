"""Context condensation: older turns become a summary before the context window fills.

Before each model call the loop estimates the request's size (system prompt, tools and
history). Past ``ratio`` of the window, the older part of the history is summarised by a
model call (a cheaper model may be configured) into one message that keeps the user's
original request, decisions, file paths and open todos. Never dropped: the system prompt
(rebuilt on every call, with the plan in it), the latest user message, and the recent
tail of the conversation. The client is told (an ``agent_thought_chunk``), the bus gets
``context.condensed``, and the condensed history replaces the stored one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from acp import update_agent_thought_text

from codelab_common import events as ev
from codelab_runtime.model.base import ChatModel, ChatRequest, TextDelta
from codelab_runtime.state import HistoryItem, estimate_tokens

if TYPE_CHECKING:
    from codelab_runtime.loop import Turn

SUMMARY_PREFIX = "[Summary of the earlier conversation]"

_INSTRUCTIONS = """You condense a coding assistant's conversation so it can continue.
Write a compact summary that keeps, explicitly:
- the user's original request (quote it),
- every decision made and why,
- every file path, command and identifier mentioned that still matters,
- what was done, what failed, and the open todos.
Do not invent anything. Output only the summary."""


@dataclass(frozen=True, slots=True)
class Condenser:
    """When and how to condense: the model and the share of the window that triggers it."""

    model: ChatModel
    ratio: float = 0.8
    keep_recent: int = 6

    def over_budget(
        self, fixed_tokens: int, history: list[HistoryItem], window_tokens: int
    ) -> bool:
        used = fixed_tokens + sum(estimate_tokens(h.message) for h in history)
        return used > window_tokens * self.ratio

    def split(self, history: list[HistoryItem]) -> tuple[list[HistoryItem], list[HistoryItem]]:
        """(older items to summarise, items kept verbatim)."""
        cut = max(0, len(history) - self.keep_recent)
        # The kept tail must not start with tool results cut off from their tool call.
        while cut > 0 and history[cut].message.get("role") == "tool":
            cut -= 1
        older, kept = history[:cut], history[cut:]
        last_user = next(
            (i for i in range(len(older) - 1, -1, -1) if _is_user_prompt(older[i])), None
        )
        if last_user is not None and not any(_is_user_prompt(h) for h in kept):
            kept = [older[last_user], *kept]
            older = older[:last_user] + older[last_user + 1 :]
        return older, kept

    async def summarise(self, older: list[HistoryItem], session_id: str, turn_id: str) -> str:
        transcript = "\n".join(_render(h) for h in older)
        request = ChatRequest(
            messages=[
                {"role": "system", "content": _INSTRUCTIONS},
                {"role": "user", "content": transcript},
            ],
            tools=[],
            session_id=session_id,
            agent="condenser",
            correlation_id=turn_id,
        )
        parts = [e.text async for e in self.model.stream(request) if isinstance(e, TextDelta)]
        return "".join(parts).strip()


def _is_user_prompt(item: HistoryItem) -> bool:
    content = item.message.get("content")
    return item.message.get("role") == "user" and not (
        isinstance(content, str) and content.startswith(SUMMARY_PREFIX)
    )


def _render(item: HistoryItem) -> str:
    message = item.message
    role = message.get("role", "?")
    text = message.get("content") or ""
    calls = [
        f"{c['function']['name']}({c['function'].get('arguments', '')})"
        for c in message.get("tool_calls") or []
    ]
    suffix = f" [tool calls: {'; '.join(calls)}]" if calls else ""
    return f"{role.upper()} ({item.agent or 'user'}): {text}{suffix}"


async def condense(turn: Turn, fixed_tokens: int) -> bool:
    """Condense ``turn.state.history`` if the next call would be over budget."""
    condenser = turn.condenser
    history = turn.state.history
    if condenser is None or not condenser.over_budget(fixed_tokens, history, turn.context_window):
        return False
    older, kept = condenser.split(history)
    if not older:
        return False
    before = fixed_tokens + sum(estimate_tokens(h.message) for h in history)
    summary = await condenser.summarise(older, turn.state.session_id, turn.turn_id)
    summary_item = HistoryItem(
        {"role": "user", "content": f"{SUMMARY_PREFIX}\n{summary}"}, None, turn.state.mode
    )
    turn.state.history[:] = [summary_item, *kept]
    after = fixed_tokens + sum(estimate_tokens(h.message) for h in turn.state.history)
    if turn.store is not None:
        await turn.store.replace_history(turn.state.session_id, turn.task_id, turn.state.history)
    await turn.bus.publish(
        ev.ContextCondensed(
            **turn.ids(),
            agent=turn.state.mode,
            messages_before=len(older) + len(kept),
            messages_after=len(turn.state.history),
            tokens_before=before,
            tokens_after=after,
        )
    )
    note = f"Condensed {len(older)} earlier messages into a summary (~{before} -> ~{after} tokens)."
    await turn.client.session_update(
        turn.state.session_id,
        update_agent_thought_text(note).model_copy(
            update={"field_meta": {"codelab": {"condensed": {"before": before, "after": after}}}}
        ),
    )
    return True


def fixed_tokens(system_prompt: str, tools: list[dict[str, Any]]) -> int:
    """Tokens of what every call carries besides the history."""
    return len(system_prompt) // 4 + len(json.dumps(tools)) // 4
