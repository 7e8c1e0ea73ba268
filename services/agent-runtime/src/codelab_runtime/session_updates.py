"""What the client is told about a session outside the message stream: modes and usage."""

from __future__ import annotations

from acp.agent.connection import AgentSideConnection
from acp.helpers import update_current_mode
from acp.schema import Cost, UsageUpdate

from codelab_common import events as ev
from codelab_common.eventbus import EventBus
from codelab_common.protocol import META_NAMESPACE
from codelab_runtime.loop import Turn
from codelab_runtime.state import SessionState, estimate_history_tokens


async def switch_mode(
    client: AgentSideConnection,
    bus: EventBus,
    state: SessionState,
    to_mode: str,
    *,
    reason: str,
    by: str,
    correlation_id: str | None,
) -> None:
    """Make ``to_mode`` current, tell the client (``current_mode_update``) and the bus."""
    from_mode, state.mode = state.mode, to_mode
    await client.session_update(state.session_id, update_current_mode(to_mode))
    await bus.publish(
        ev.ModeSwitched(
            session_id=state.session_id,
            correlation_id=correlation_id,
            task_id=correlation_id,
            from_mode=from_mode,
            to_mode=to_mode,
            reason=reason,
            by="user" if by == "user" else "agent",
        )
    )


async def report_usage(turn: Turn) -> None:
    """Tell the client and the bus what the turn cost, and the session so far."""
    state = turn.state
    usage = turn.usage
    state.prompt_tokens += usage.prompt_tokens
    state.completion_tokens += usage.completion_tokens
    state.cost_usd += usage.cost_usd
    await turn.bus.publish(
        ev.UsageReported(
            **turn.ids(),
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cost_usd=usage.cost_usd,
            session_prompt_tokens=state.prompt_tokens,
            session_completion_tokens=state.completion_tokens,
        )
    )
    used = estimate_history_tokens(state)
    await turn.client.session_update(
        state.session_id,
        UsageUpdate(
            session_update="usage_update",
            used=min(used, turn.context_window),
            size=turn.context_window,
            cost=Cost(amount=state.cost_usd, currency="USD"),
            field_meta={
                META_NAMESPACE: {
                    "turnPromptTokens": usage.prompt_tokens,
                    "turnCompletionTokens": usage.completion_tokens,
                    "turnCostUsd": usage.cost_usd,
                    "sessionPromptTokens": state.prompt_tokens,
                    "sessionCompletionTokens": state.completion_tokens,
                    "sessionCostUsd": state.cost_usd,
                }
            },
        ),
    )
