"""Runs one tool call for an agent: policy, approval, execution on the client, reporting.

Every call is reported to the client (``tool_call`` then ``tool_call_update``) and on the
event bus. Nothing the model asks for can crash the turn: a disallowed tool, bad
arguments, a rejected approval or a client error all become a tool message the model
reads on its next call.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from acp import RequestError, start_tool_call, text_block, tool_content, update_tool_call
from acp.agent.connection import AgentSideConnection
from acp.schema import AllowedOutcome, PermissionOption, ToolCallLocation, ToolCallUpdate
from pydantic import BaseModel, ValidationError

from codelab_common import events as ev
from codelab_common.eventbus import EventBus
from codelab_runtime.agents.specs import AgentSpec
from codelab_runtime.model.base import AssembledToolCall
from codelab_runtime.state import SessionState
from codelab_runtime.tools.client_ops import ClientOps
from codelab_runtime.tools.definitions import TOOLS, SwitchModeArgs, ToolDef, truncate

# (target mode, reason) -> error text, or None when the switch happened.
ModeSwitcher = Callable[[str, str], Awaitable[str | None]]

_PERMISSION_OPTIONS = [
    PermissionOption(option_id="allow_once", name="Allow", kind="allow_once"),
    PermissionOption(option_id="allow_always", name="Always allow", kind="allow_always"),
    PermissionOption(option_id="reject_once", name="Reject", kind="reject_once"),
]


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What the model is told, and whether the call achieved what it asked for."""

    text: str
    ok: bool


def _title(tool: str, args: dict[str, Any]) -> str:
    match tool:
        case "read_file":
            return f"Read {args.get('path', '')}"
        case "write_file":
            return f"Write {args.get('path', '')}"
        case "list_files":
            return f"List {args.get('path', '.')}"
        case "search_files":
            return f"Search '{args.get('pattern', '')}' in {args.get('path', '.')}"
        case "run_command":
            return f"Run `{args.get('command', '')}`"
        case "switch_mode":
            return f"Switch to {args.get('mode', '')}"
    return tool


class ToolRunner:
    """Executes the model's tool calls for one turn of one session."""

    def __init__(
        self,
        client: AgentSideConnection,
        ops: ClientOps,
        bus: EventBus,
        state: SessionState,
        turn_id: str,
        switch_mode: ModeSwitcher,
        output_limit_bytes: int,
    ) -> None:
        self._client = client
        self._ops = ops
        self._bus = bus
        self._state = state
        self._turn_id = turn_id
        self._switch_mode = switch_mode
        self._limit = output_limit_bytes

    def _ids(self) -> dict[str, Any]:
        return {"session_id": self._state.session_id, "correlation_id": self._turn_id}

    async def run(self, call: AssembledToolCall, spec: AgentSpec) -> ToolResult:
        tool = TOOLS.get(call.name)
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
        locations = (
            [ToolCallLocation(path=self._ops.resolve(args["path"]))] if "path" in args else None
        )
        await self._client.session_update(
            self._state.session_id,
            start_tool_call(
                call.id,
                _title(call.name, args),
                kind=tool.kind if tool else "other",
                status="pending",
                locations=locations,
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
        if tool.needs_approval and not await self._approved(call, tool, args):
            return await self._refuse(
                call, "user", f"The user rejected the {tool.name} call; it was not performed."
            )
        return await self._execute(call, tool, parsed)

    def _denial(self, tool: ToolDef, args: BaseModel, spec: AgentSpec) -> str | None:
        if tool.group is not None and tool.group not in spec.tool_groups:
            return f"The {spec.mode_id} agent may not use {tool.name}. Switch mode if needed."
        if tool.name == "write_file" and not spec.may_edit(getattr(args, "path", "")):
            patterns = ", ".join(spec.file_patterns)
            return f"The {spec.mode_id} agent may only write files matching: {patterns}."
        if isinstance(args, SwitchModeArgs) and args.mode not in spec.may_switch_to:
            allowed = ", ".join(sorted(spec.may_switch_to))
            return f"The {spec.mode_id} agent cannot switch to '{args.mode}'. Allowed: {allowed}."
        return None

    async def _refuse(self, call: AssembledToolCall, reason: Any, message: str) -> ToolResult:
        await self._bus.publish(
            ev.ToolRejected(
                **self._ids(), tool_call_id=call.id, tool=call.name, reason=reason, detail=message
            )
        )
        await self._update(call.id, "failed", message)
        return ToolResult(f"Error: {message}", ok=False)

    async def _approved(self, call: AssembledToolCall, tool: ToolDef, args: dict[str, Any]) -> bool:
        if tool.name in self._state.always_allowed:
            await self._bus.publish(
                ev.ToolApproved(**self._ids(), tool_call_id=call.id, tool=tool.name, by="allowlist")
            )
            return True
        await self._bus.publish(
            ev.ApprovalRequested(**self._ids(), tool_call_id=call.id, tool=tool.name)
        )
        response = await self._client.request_permission(
            session_id=self._state.session_id,
            tool_call=ToolCallUpdate(
                tool_call_id=call.id,
                title=_title(tool.name, args),
                kind=tool.kind,
                status="pending",
                raw_input=args,
            ),
            options=_PERMISSION_OPTIONS,
        )
        outcome = response.outcome
        option = outcome.option_id if isinstance(outcome, AllowedOutcome) else "cancelled"
        approved = option in ("allow_once", "allow_always")
        await self._bus.publish(
            ev.ApprovalResolved(
                **self._ids(),
                tool_call_id=call.id,
                tool=tool.name,
                outcome=option,
                approved=approved,
            )
        )
        if option == "allow_always":
            self._state.always_allowed.add(tool.name)
        if approved:
            await self._bus.publish(
                ev.ToolApproved(**self._ids(), tool_call_id=call.id, tool=tool.name, by="user")
            )
        return approved

    async def _execute(self, call: AssembledToolCall, tool: ToolDef, args: Any) -> ToolResult:
        await self._update(call.id, "in_progress", None)
        started = time.perf_counter()
        try:
            text, ok = await self._dispatch(tool, args)
        except RequestError as exc:
            elapsed = (time.perf_counter() - started) * 1000
            message = f"{tool.name} failed on the client: {exc} {exc.data or ''}".strip()
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
        text = truncate(text, self._limit)
        if ok:
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
        await self._update(call.id, "completed" if ok else "failed", text)
        return ToolResult(text if ok else f"Error: {text}", ok=ok)

    async def _dispatch(self, tool: ToolDef, args: Any) -> tuple[str, bool]:
        ops = self._ops
        match tool.name:
            case "read_file":
                return await ops.read_file(args.path), True
            case "write_file":
                return await ops.write_file(args.path, args.content), True
            case "list_files":
                return await ops.list_files(args.path), True
            case "search_files":
                return await ops.search_files(args.pattern, args.path), True
            case "run_command":
                return await ops.run_command(args.command), True
            case "switch_mode":
                error = await self._switch_mode(args.mode, args.reason)
                if error:
                    return error, False
                return f"Switched to {args.mode}. Continue as the {args.mode} agent.", True
        raise AssertionError(f"tool {tool.name} has no implementation")

    async def _update(self, tool_call_id: str, status: Any, text: str | None) -> None:
        content = [tool_content(text_block(text))] if text else None
        await self._client.session_update(
            self._state.session_id, update_tool_call(tool_call_id, status=status, content=content)
        )
