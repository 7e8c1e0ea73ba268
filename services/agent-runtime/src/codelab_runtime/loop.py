"""The agent loop: one function runs every agent, switching agents as the model decides.

A turn calls the current agent's model with its instructions, tools and the session's
history; streams text to the client as it arrives; runs the tool calls; and repeats
until the model answers without tool calls (``end_turn``), the per-turn budget of model
calls is spent (``max_turn_requests``), or the model stops for length or refusal.
Cancellation is plain ``asyncio`` cancellation of the task running this function.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from acp import update_agent_message_text
from acp.agent.connection import AgentSideConnection
from acp.schema import StopReason

from codelab_common import events as ev
from codelab_common.eventbus import EventBus
from codelab_runtime.agents.specs import AgentSpec
from codelab_runtime.condense import Condenser, condense, fixed_tokens
from codelab_runtime.model.base import (
    AssembledToolCall,
    ChatModel,
    ChatRequest,
    Finish,
    TextDelta,
    ToolCallAssembler,
    ToolCallDelta,
    UsageReport,
)
from codelab_runtime.persistence.store import SessionStore
from codelab_runtime.state import HistoryItem, SessionState
from codelab_runtime.tool_batch import close_dangling_calls, resume_calls, run_tools
from codelab_runtime.tools.definitions import tools_for
from codelab_runtime.tools.runner import ToolRunner


@dataclass(slots=True)
class CancelScope:
    """Shared by a turn and its subtasks: whether the user (not a shutdown) cancelled."""

    by_user: bool = False


@dataclass(slots=True)
class TurnUsage:
    """Tokens and cost of a prompt turn, its subtasks included (they share one budget).

    A call's cost is what the llm-proxy reports (its ledger's figure, from the serving
    deployment's price); the configured prices only stand in when it reports none.
    """

    input_usd_per_mtok: float = 0.0
    output_usd_per_mtok: float = 0.0
    max_cost_usd: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    def add(self, report: UsageReport) -> None:
        self.prompt_tokens += report.prompt_tokens
        self.completion_tokens += report.completion_tokens
        if report.cost_usd is not None:
            self.cost_usd += report.cost_usd
        else:
            self.cost_usd += (
                report.prompt_tokens * self.input_usd_per_mtok
                + report.completion_tokens * self.output_usd_per_mtok
            ) / 1_000_000

    @property
    def over_budget(self) -> bool:
        return self.max_cost_usd is not None and self.cost_usd >= self.max_cost_usd


@dataclass(slots=True)
class Turn:
    """Everything one prompt turn works with."""

    client: AgentSideConnection
    model: ChatModel
    bus: EventBus
    agents: dict[str, AgentSpec]
    state: SessionState
    tools: ToolRunner
    turn_id: str
    max_model_calls: int
    # Set for a subtask: its id; its state is the child's own (mode, context).
    task_id: str | None = None
    context_window: int = 128_000
    usage: TurnUsage = field(default_factory=TurnUsage)
    cancel_scope: CancelScope = field(default_factory=CancelScope)
    max_tool_calls: int = 100
    tool_calls: int = 0
    condenser: Condenser | None = None
    store: SessionStore | None = None

    def ids(self) -> dict[str, Any]:
        return {
            "session_id": self.state.session_id,
            "correlation_id": self.turn_id,
            "task_id": self.task_id or self.turn_id,
        }

    async def say(self, text: str) -> None:
        await self.client.session_update(self.state.session_id, update_agent_message_text(text))

    @property
    def is_subtask(self) -> bool:
        return self.task_id is not None

    async def record(self, event: ev.UserMessage | ev.AgentMessage | ev.ToolMessage) -> None:
        agent = getattr(event, "agent", self.state.mode)
        self.state.history.append(HistoryItem(event.message, self.turn_id, agent))
        await self.bus.publish(event)


@dataclass(slots=True)
class ModelAnswer:
    """What one model call produced."""

    text: str
    tool_calls: list[AssembledToolCall]
    finish_reason: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


def _system_prompt(spec: AgentSpec, state: SessionState) -> str:
    prompt = f"{spec.instructions}\n\nWorkspace root: {state.cwd}\nCurrent mode: {spec.mode_id}\n"
    if state.plan:  # part of every call, so condensing can never lose it
        lines = (f"- [{e.get('status')}] {e.get('content')}" for e in state.plan)
        prompt += "\nCurrent plan:\n" + "\n".join(lines) + "\n"
    return prompt


async def _call_model(turn: Turn, spec: AgentSpec, call_index: int) -> ModelAnswer:
    system = _system_prompt(spec, turn.state)
    tools = [t.openai_schema() for t in tools_for(spec)]
    await condense(turn, fixed_tokens(system, tools))
    request = ChatRequest(
        messages=[{"role": "system", "content": system}, *(h.message for h in turn.state.history)],
        tools=tools,
        session_id=turn.state.session_id,
        agent=spec.mode_id,
        correlation_id=turn.turn_id,
    )
    await turn.bus.publish(
        ev.LlmCallStarted(
            **turn.ids(), agent=spec.mode_id, model=turn.model.name, call_index=call_index
        )
    )
    started = time.perf_counter()
    answer = ModelAnswer(text="", tool_calls=[], finish_reason="stop")
    assembler = ToolCallAssembler()
    async for event in turn.model.stream(request):
        match event:
            case TextDelta(text=text):
                answer.text += text
                await turn.say(text)
            case ToolCallDelta():
                assembler.add(event)
            case UsageReport(prompt_tokens=p, completion_tokens=c):
                answer.prompt_tokens, answer.completion_tokens = p, c
                turn.usage.add(event)
            case Finish(reason=reason):
                answer.finish_reason = reason
    answer.tool_calls = assembler.calls()
    await turn.bus.publish(
        ev.LlmCallCompleted(
            **turn.ids(),
            agent=spec.mode_id,
            model=turn.model.name,
            finish_reason=answer.finish_reason,
            prompt_tokens=answer.prompt_tokens,
            completion_tokens=answer.completion_tokens,
            duration_ms=(time.perf_counter() - started) * 1000,
        )
    )
    return answer


async def run_turn(turn: Turn, user_text: str | None) -> StopReason:
    """Run one prompt turn to its stop reason (raises ``CancelledError`` when cancelled).

    ``user_text`` is ``None`` when the turn resumes after a takeover: its messages so far
    are kept and its unanswered tool calls are settled first (see :func:`resume_calls`).
    """
    stop, completion = await run_task(turn, user_text)
    if completion is not None:
        await turn.say(completion)
    return stop


async def run_task(turn: Turn, user_text: str | None) -> tuple[StopReason, str | None]:
    """The loop of a turn or a subtask: its stop reason and its completion result, if any."""
    if user_text is not None:
        await turn.record(
            ev.UserMessage(
                **turn.ids(), text=user_text, message={"role": "user", "content": user_text}
            )
        )
    await turn.bus.publish(ev.TaskStarted(**turn.ids(), agent=turn.state.mode))
    calls = 0
    try:
        if user_text is None and (completion := await resume_calls(turn)) is not None:
            return await _finish(turn, "end_turn", calls), completion
        while calls < turn.max_model_calls:
            if turn.usage.over_budget:
                cost, limit = turn.usage.cost_usd, turn.usage.max_cost_usd
                await turn.say(f"\n\nStopped: this turn cost ${cost:.4f} (the limit is ${limit}).")
                return await _finish(turn, "max_turn_requests", calls), None
            calls += 1
            spec = turn.agents[turn.state.mode]
            try:
                answer = await _call_model(turn, spec, calls)
            except Exception as exc:  # any model failure ends the turn with a clear message
                return await _model_failed(turn, spec, exc, calls), None
            message: dict[str, Any] = {"role": "assistant", "content": answer.text or None}
            if answer.tool_calls:
                message["tool_calls"] = [c.as_message_part() for c in answer.tool_calls]
            await turn.record(
                ev.AgentMessage(
                    **turn.ids(),
                    agent=spec.mode_id,
                    text=answer.text,
                    tool_call_count=len(answer.tool_calls),
                    message=message,
                )
            )
            if (stop := await _stop_for(turn, answer)) is not None:
                return await _finish(turn, stop, calls), None
            if (completion := await run_tools(turn, spec, answer.tool_calls)) is not None:
                return await _finish(turn, "end_turn", calls), completion
            turn.tool_calls += len(answer.tool_calls)
            if turn.tool_calls >= turn.max_tool_calls:
                await turn.say(
                    f"\n\nStopped after {turn.tool_calls} tool calls (the per-turn limit)."
                )
                return await _finish(turn, "max_turn_requests", calls), None
        await turn.say(f"\n\nStopped after {calls} model calls (the per-turn limit).")
        return await _finish(turn, "max_turn_requests", calls), None
    except asyncio.CancelledError:
        # A replica shutting down leaves the turn as it is: the next owner resumes it.
        if turn.cancel_scope.by_user:
            await close_dangling_calls(turn)
            await turn.bus.publish(ev.TaskCancelled(**turn.ids()))
        raise


async def _stop_for(turn: Turn, answer: ModelAnswer) -> StopReason | None:
    """The stop reason an answer ends the task with, or ``None`` to run its tools."""
    if answer.finish_reason == "content_filter":
        await turn.say("\n\nThe model declined to answer this request.")
        return "refusal"
    if answer.finish_reason == "length" and not answer.tool_calls:
        return "max_tokens"
    return None if answer.tool_calls else "end_turn"


async def _model_failed(turn: Turn, spec: AgentSpec, exc: Exception, calls: int) -> StopReason:
    error = str(exc) or type(exc).__name__
    await turn.bus.publish(
        ev.LlmCallFailed(**turn.ids(), agent=spec.mode_id, model=turn.model.name, error=error)
    )
    await turn.bus.publish(ev.TaskFailed(**turn.ids(), error=error))
    await turn.say(f"\n\nThe model call failed ({type(exc).__name__}): {error}")
    return "end_turn"


async def _finish(turn: Turn, reason: StopReason, calls: int) -> StopReason:
    await turn.bus.publish(ev.TaskCompleted(**turn.ids(), stop_reason=reason, model_calls=calls))
    return reason


__all__ = ["Turn", "run_task", "run_turn"]
