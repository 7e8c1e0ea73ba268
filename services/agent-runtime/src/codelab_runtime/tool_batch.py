"""Running a batch of tool calls, and settling the calls a turn left open.

After a user's cancel the open calls are answered "Cancelled by the user." so the history
stays valid; after a takeover they are settled by :func:`resume_calls`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from codelab_common import events as ev
from codelab_runtime.agents.specs import AgentSpec
from codelab_runtime.model.base import AssembledToolCall

if TYPE_CHECKING:
    from codelab_runtime.loop import Turn


async def run_tools(turn: Turn, spec: AgentSpec, calls: list[AssembledToolCall]) -> str | None:
    """Run a batch of tool calls; returns the result of an ``attempt_completion``, if any."""
    completion: str | None = None
    for call in calls:
        if turn.state.mode != spec.mode_id:
            # The batch was planned by the previous agent; the new one decides afresh.
            text = f"Skipped: the conversation was handed to {turn.state.mode} first."
        elif completion is not None:
            text = "Skipped: the task was already completed."
        else:
            result = await turn.tools.run(call, spec)
            text, completion = result.text, result.completion
        await turn.record(
            ev.ToolMessage(
                **turn.ids(),
                agent=spec.mode_id,
                tool_call_id=call.id,
                message={"role": "tool", "tool_call_id": call.id, "content": text},
            )
        )
    return completion


async def close_dangling_calls(turn: Turn) -> None:
    """After a cancel, answer the tool calls left open so the history stays valid."""
    answered = {h.message.get("tool_call_id") for h in turn.state.history}
    last = next((h for h in reversed(turn.state.history) if h.message.get("tool_calls")), None)
    for part in last.message["tool_calls"] if last else []:
        if part["id"] not in answered:
            await turn.record(
                ev.ToolMessage(
                    **turn.ids(),
                    agent=turn.state.mode,
                    tool_call_id=part["id"],
                    message={
                        "role": "tool",
                        "tool_call_id": part["id"],
                        "content": "Cancelled by the user.",
                    },
                )
            )


async def resume_calls(turn: Turn) -> str | None:
    """Settle the tool calls a dead owner left unanswered, then let the model go on.

    Subtasks are run through the tools again: the task table knows whether they finished
    (their stored result is returned, nothing runs twice) or where to resume them. Other
    calls may or may not have happened; the model is told so instead of guessing.
    """
    answered = {h.message.get("tool_call_id") for h in turn.state.history}
    last = next((h for h in reversed(turn.state.history) if h.message.get("tool_calls")), None)
    if last is None:
        return None
    spec = turn.agents.get(last.agent) or turn.agents[turn.state.mode]
    open_calls = [
        AssembledToolCall(p["id"], p["function"]["name"], p["function"].get("arguments", ""))
        for p in last.message["tool_calls"]
        if p["id"] not in answered
    ]
    delegated = [c for c in open_calls if c.name == "new_task"]
    for call in open_calls:
        if call.name != "new_task":
            text = "Interrupted by a runtime restart: check the workspace before retrying."
            await turn.record(
                ev.ToolMessage(
                    **turn.ids(),
                    agent=spec.mode_id,
                    tool_call_id=call.id,
                    message={"role": "tool", "tool_call_id": call.id, "content": text},
                )
            )
    return await run_tools(turn, spec, delegated) if delegated else None
