"""Runs one tool call for an agent: policy, approval, execution on the client, reporting.

Every call is reported to the client (``tool_call`` then ``tool_call_update``) and on the
event bus. Nothing the model asks for can crash the turn: a disallowed tool, bad
arguments, a rejected approval or a client error all become a tool message the model
reads on its next call.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from acp import RequestError, start_tool_call, text_block, tool_content, update_tool_call
from acp.agent.connection import AgentSideConnection
from acp.schema import ToolCallLocation
from pydantic import BaseModel, ValidationError

from codelab_common import events as ev
from codelab_common.eventbus import EventBus
from codelab_runtime.agents.specs import AgentSpec, ToolGroup
from codelab_runtime.model.base import AssembledToolCall
from codelab_runtime.state import SessionState
from codelab_runtime.tools import args as a
from codelab_runtime.tools.approvals import Approver
from codelab_runtime.tools.definitions import ToolDef, lookup, truncate
from codelab_runtime.tools.dispatch import ToolExecutor
from codelab_runtime.tools.edits import EditError
from codelab_runtime.tools.git import GitError
from codelab_runtime.tools.policy import ApprovalPolicy, Decision


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What the model is told, whether the call achieved it, and a completion if any."""

    text: str
    ok: bool
    completion: str | None = None


def title(tool: str, args: dict[str, Any]) -> str:
    """A one-line title for the client's UI."""
    subject = args.get("path") or args.get("command") or args.get("mode") or ""
    return f"{tool} {subject}".strip()


class ToolRunner:
    """Executes the model's tool calls for one turn of one session."""

    def __init__(
        self,
        client: AgentSideConnection,
        executor: ToolExecutor,
        bus: EventBus,
        state: SessionState,
        turn_id: str,
        output_limit_bytes: int,
        policy: ApprovalPolicy | None = None,
        task_id: str | None = None,
    ) -> None:
        self._client = client
        self._exec = executor
        self._bus = bus
        self._state = state
        self._turn_id = turn_id
        self._limit = output_limit_bytes
        self._policy = policy or ApprovalPolicy()
        self._task_id = task_id
        self._approver = Approver(client, bus, state, self._ids)

    def _ids(self) -> dict[str, Any]:
        return {
            "session_id": self._state.session_id,
            "correlation_id": self._turn_id,
            "task_id": self._task_id,
        }

    async def run(self, call: AssembledToolCall, spec: AgentSpec) -> ToolResult:
        tool = lookup(call.name)
        try:
            raw = json.loads(call.arguments or "{}")
            args: dict[str, Any] = raw if isinstance(raw, dict) else {}
        except json.JSONDecodeError:
            args = {}
        await self._bus.publish(
            ev.ToolRequested(
                **self._ids(),
                tool_call_id=call.id,
                tool=call.name,
                agent=spec.mode_id,
                arguments=args,
            )
        )
        path = args.get("path") if isinstance(args.get("path"), str) else None
        await self._client.session_update(
            self._state.session_id,
            start_tool_call(
                call.id,
                title(call.name, args),
                kind=tool.kind if tool else "other",
                status="pending",
                locations=[ToolCallLocation(path=self._exec.ops.resolve(path))] if path else None,
                raw_input=args,
            ),
        )
        if tool is None:
            return await self._refuse(call, "invalid_arguments", f"Unknown tool '{call.name}'.")
        try:
            parsed = tool.args.model_validate(args)
        except ValidationError as exc:
            return await self._refuse(
                call, "invalid_arguments", f"Invalid arguments for {tool.name}: {exc.errors()}"
            )
        if denial := self._denial(tool, parsed, spec):
            return await self._refuse(call, "not_allowed", denial)
        decision = self._policy.decide(tool, args, path)
        if decision is Decision.DENY:
            return await self._refuse(
                call, "not_allowed", f"The command policy denies this {tool.name} call."
            )
        try:
            prepared = await self._exec.prepare(tool, parsed)
        except (EditError, RequestError) as exc:
            return await self._refuse(call, "invalid_arguments", f"{tool.name}: {exc}")
        if decision is Decision.ASK:
            answer = await self._approver.ask(call.id, tool, args, title(tool.name, args))
            if not answer.approved:
                return await self._refuse(
                    call, "user", f"The user rejected the {tool.name} call; it was not performed."
                )
            if answer.edited is not None:
                return await self._run_edited(call, tool, answer.edited, spec)
        elif tool.needs_approval:
            await self._bus.publish(
                ev.ToolApproved(**self._ids(), tool_call_id=call.id, tool=tool.name, by="policy")
            )
        return await self._execute(call, tool, parsed, prepared)

    async def _run_edited(
        self, call: AssembledToolCall, tool: ToolDef, edited: dict[str, Any], spec: AgentSpec
    ) -> ToolResult:
        """The user changed the arguments before approving: check them again, then run."""
        try:
            parsed = tool.args.model_validate(edited)
            if denial := self._denial(tool, parsed, spec):
                return await self._refuse(call, "not_allowed", denial)
            if self._policy.decide(tool, edited, edited.get("path")) is Decision.DENY:
                return await self._refuse(call, "not_allowed", "The policy denies the edited call.")
            prepared = await self._exec.prepare(tool, parsed)
        except (ValidationError, EditError, RequestError) as exc:
            return await self._refuse(call, "invalid_arguments", f"Edited arguments: {exc}")
        result = await self._execute(call, tool, parsed, prepared)
        note = f"[The user edited the arguments to: {json.dumps(edited)}]\n"
        return ToolResult(note + result.text, result.ok, result.completion)

    def _denial(self, tool: ToolDef, args: BaseModel, spec: AgentSpec) -> str | None:
        if tool.group is not None and tool.group not in spec.tool_groups:
            return f"The {spec.mode_id} agent may not use {tool.name}. Switch mode if needed."
        if tool.group is ToolGroup.EDIT and not spec.may_edit(getattr(args, "path", "")):
            patterns = ", ".join(spec.file_patterns)
            return f"The {spec.mode_id} agent may only write files matching: {patterns}."
        if isinstance(args, a.SwitchModeArgs | a.NewTaskArgs) and (
            args.mode not in spec.may_switch_to
        ):
            allowed = ", ".join(sorted(spec.may_switch_to))
            return f"The {spec.mode_id} agent cannot hand to '{args.mode}'. Allowed: {allowed}."
        return None

    async def _refuse(self, call: AssembledToolCall, reason: Any, message: str) -> ToolResult:
        await self._bus.publish(
            ev.ToolRejected(
                **self._ids(), tool_call_id=call.id, tool=call.name, reason=reason, detail=message
            )
        )
        await self._update(call.id, "failed", message)
        return ToolResult(f"Error: {message}", ok=False)

    async def _execute(
        self, call: AssembledToolCall, tool: ToolDef, args: Any, prepared: str | None
    ) -> ToolResult:
        await self._update(call.id, "in_progress", None)
        started = time.perf_counter()
        try:
            outcome = await self._exec.execute(tool, args, call.id, prepared)
        except (RequestError, GitError) as exc:
            elapsed = (time.perf_counter() - started) * 1000
            detail = f"{exc} {exc.data or ''}" if isinstance(exc, RequestError) else str(exc)
            message = f"{tool.name} failed: {detail}".strip()
            await self._bus.publish(
                ev.ToolFailed(
                    **self._ids(),
                    tool_call_id=call.id,
                    tool=tool.name,
                    error=message,
                    duration_ms=elapsed,
                )
            )
            await self._update(call.id, "failed", message)
            return ToolResult(f"Error: {message}", ok=False)
        elapsed = (time.perf_counter() - started) * 1000
        text = truncate(outcome.text, self._limit)
        if outcome.ok:
            await self._bus.publish(
                ev.ToolCompleted(
                    **self._ids(), tool_call_id=call.id, tool=tool.name, duration_ms=elapsed
                )
            )
        else:
            await self._bus.publish(
                ev.ToolRejected(
                    **self._ids(),
                    tool_call_id=call.id,
                    tool=tool.name,
                    reason="not_allowed",
                    detail=text,
                )
            )
        await self._update(call.id, "completed" if outcome.ok else "failed", text)
        return ToolResult(text if outcome.ok else f"Error: {text}", outcome.ok, outcome.completion)

    async def _update(self, tool_call_id: str, status: Any, text: str | None) -> None:
        content = [tool_content(text_block(text))] if text else None
        await self._client.session_update(
            self._state.session_id, update_tool_call(tool_call_id, status=status, content=content)
        )
