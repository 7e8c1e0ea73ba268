"""Builds the :class:`~codelab_runtime.loop.Turn` of a prompt and of each of its subtasks.

A subtask (``new_task``) is a child task: another agent, its own context (only the
instructions it was given), the same session, workspace and approvals. Its parent link
lives in the ``tasks`` table, so after a takeover the parent finds a finished child's
result instead of running it again, and an unfinished child resumes from its messages.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from acp.agent.connection import AgentSideConnection
from acp.helpers import plan_entry, update_plan

from codelab_common import events as ev
from codelab_runtime.loop import CancelScope, Turn, TurnUsage, run_task
from codelab_runtime.runtime_deps import RuntimeDeps
from codelab_runtime.session_updates import switch_mode
from codelab_runtime.state import SessionState
from codelab_runtime.tools.client_ops import ClientOps
from codelab_runtime.tools.dispatch import ToolExecutor, TurnHooks
from codelab_runtime.tools.runner import ToolRunner

MAX_SUBTASK_DEPTH = 3


@dataclass(slots=True)
class TurnFactory:
    """Everything a prompt turn's tasks share: the client, the deps, the session."""

    client: AgentSideConnection
    deps: RuntimeDeps
    root: SessionState
    turn_id: str
    cancel_scope: CancelScope = field(default_factory=CancelScope)
    usage: TurnUsage = field(default_factory=TurnUsage)

    def __post_init__(self) -> None:
        prices = self.deps.prices
        self.usage = TurnUsage(
            prices.input_usd_per_mtok, prices.output_usd_per_mtok, prices.max_cost_usd_per_turn
        )

    def make(self, state: SessionState, task_id: str | None = None, depth: int = 0) -> Turn:
        turn_holder: list[Turn] = []

        async def switcher(to_mode: str, reason: str) -> str | None:
            if task_id is not None:
                return "A subtask cannot switch mode; finish it with attempt_completion."
            await switch_mode(
                self.client,
                self.deps.bus,
                state,
                to_mode,
                reason=reason,
                by="agent",
                correlation_id=self.turn_id,
            )
            return None

        async def new_task(mode: str, instructions: str, tool_call_id: str) -> str:
            return await self.run_subtask(turn_holder[0], mode, instructions, tool_call_id, depth)

        async def write_plan(entries: list[dict[str, Any]]) -> None:
            self.root.plan = entries
            await self.client.session_update(
                self.root.session_id, update_plan(plan_entry(**e) for e in entries)
            )
            await self.deps.bus.publish(
                ev.PlanUpdated(**turn_holder[0].ids(), agent=state.mode, entries=entries)
            )

        deps = self.deps
        ops = ClientOps(self.client, state.session_id, state.cwd, deps.limits)
        executor = ToolExecutor(
            self.client, ops, state.session_id, TurnHooks(switcher, write_plan, new_task)
        )
        tools = ToolRunner(
            self.client,
            executor,
            deps.bus,
            state,
            self.turn_id,
            deps.limits.output_limit_bytes,
            deps.policy,
            task_id=task_id or self.turn_id,
        )
        turn = Turn(
            client=self.client,
            model=deps.model,
            bus=deps.bus,
            agents=deps.agents,
            state=state,
            tools=tools,
            turn_id=self.turn_id,
            max_model_calls=deps.max_model_calls,
            max_tool_calls=deps.max_tool_calls,
            task_id=task_id,
            context_window=deps.context_window.tokens,
            cancel_scope=self.cancel_scope,
            usage=self.usage,
            condenser=deps.condenser,
            store=deps.store,
        )
        turn_holder.append(turn)
        return turn

    async def run_subtask(
        self, parent: Turn, mode: str, instructions: str, tool_call_id: str, depth: int
    ) -> str:
        store, bus = self.deps.store.tasks, self.deps.bus
        sid = self.root.session_id
        parent_id = parent.task_id or self.turn_id
        row = await store.find(sid, tool_call_id)
        if row is not None and row.status != "running":
            return row.result or ""  # finished before a takeover: never run again
        if depth >= MAX_SUBTASK_DEPTH:
            return f"Not started: subtasks may nest at most {MAX_SUBTASK_DEPTH} deep."
        if row is None:
            row = await store.start(
                sid,
                tool_call_id,
                parent_task_id=parent_id,
                correlation_id=self.turn_id,
                mode=mode,
                instructions=instructions,
            )
        history = await self.deps.store.task_history(sid, row.id)
        child_state = SessionState(
            sid,
            self.root.owner,
            self.root.cwd,
            row.mode,
            history=history,
            always_allowed=self.root.always_allowed,
        )
        ids = {"session_id": sid, "correlation_id": self.turn_id, "task_id": row.id}
        await bus.publish(
            ev.SubtaskStarted(
                **ids,
                parent_task_id=parent_id,
                parent_tool_call_id=tool_call_id,
                mode=row.mode,
                resumed=bool(history),
            )
        )
        child = self.make(child_state, task_id=row.id, depth=depth + 1)
        try:
            stop, completion = await run_task(child, None if history else row.instructions)
        except asyncio.CancelledError:
            if self.cancel_scope.by_user:  # a shutdown leaves it running, to be resumed
                await store.finish(row.id, "cancelled", "Cancelled by the user.")
            raise
        if completion is None:
            last = next(
                (h.message.get("content") for h in reversed(history) if h.message.get("content")),
                None,
            )
            completion = (last if isinstance(last, str) else None) or f"(no result; {stop})"
        outcome = "completed" if stop == "end_turn" else "failed"
        await store.finish(row.id, outcome, completion)
        await bus.publish(
            ev.SubtaskReturned(
                **ids, parent_task_id=parent_id, mode=row.mode, outcome=outcome, result=completion
            )
        )
        return completion
