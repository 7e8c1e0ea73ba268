"""Running a batch of tool calls, and settling the calls a turn left open.

After a user's cancel the open calls are answered "Cancelled by the user." so the history
stays valid; after a takeover they are settled by :func:`resume_calls`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from codelab_common import events as ev
from codelab_runtime.agents.specs import AgentSpec
from codelab_runtime.model.base import AssembledToolCall
from codelab_runtime.tools.definitions import lookup

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


# Facts that mean a call may have had its effect: it was cleared to run, or it ran.
_STARTED = {"tool.approved", "tool.completed", "tool.failed"}
INTERRUPTED = "Interrupted by a runtime restart: check the workspace before retrying."


async def _may_have_run(turn: Turn, call: AssembledToolCall) -> bool:
    tool = lookup(call.name)
    if tool is None or not tool.needs_approval:
        return False  # reads and session tools: running them again is harmless
    if turn.store is None:
        return True
    facts = await turn.store.tasks.facts_of_call(turn.state.session_id, call.id)
    return bool(facts & _STARTED)


async def resume_calls(turn: Turn) -> str | None:
    """Settle the tool calls a dead owner left unanswered, then let the model go on.

    Nothing runs twice. Subtasks go through the tools again: the task table returns a
    finished one's stored result or resumes an unfinished one. A call that was never
    cleared to run (e.g. its approval was still pending) runs now, which asks the user
    again. A call that may have had its effect is not repeated: the model is told.
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
    completion: str | None = None
    for call in open_calls:
        if call.name == "new_task" or not await _may_have_run(turn, call):
            completion = await run_tools(turn, spec, [call]) or completion
            continue
        await turn.record(
            ev.ToolMessage(
                **turn.ids(),
                agent=spec.mode_id,
                tool_call_id=call.id,
                message={"role": "tool", "tool_call_id": call.id, "content": INTERRUPTED},
            )
        )
    return completion
