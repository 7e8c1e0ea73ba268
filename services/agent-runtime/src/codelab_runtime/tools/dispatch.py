"""What each tool does once it may run: the bodies, by tool name.

Session-level effects (switching agents, writing the plan, running a subtask) are
callbacks in :class:`TurnHooks`, so the tools stay ignorant of the loop that owns them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from acp.agent.connection import AgentSideConnection

from codelab_runtime.tools import args as a
from codelab_runtime.tools.client_ops import ClientOps
from codelab_runtime.tools.definitions import ToolDef
from codelab_runtime.tools.edits import replace_once
from codelab_runtime.tools.git import GitTools

# The extension method for ask_followup_question (see docs/protocol.md).
ASK_FOLLOWUP_METHOD = "codelab/ask_followup"

# (target mode, reason) -> error text, or None when the switch happened.
ModeSwitcher = Callable[[str, str], Awaitable[str | None]]
PlanWriter = Callable[[list[dict[str, Any]]], Awaitable[None]]
# (mode, instructions, parent tool call id) -> the subtask's result.
SubtaskRunner = Callable[[str, str, str], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class TurnHooks:
    """Effects on the session that some tools have."""

    switch_mode: ModeSwitcher
    update_plan: PlanWriter
    new_task: SubtaskRunner


@dataclass(frozen=True, slots=True)
class Outcome:
    """A tool's result text, whether it succeeded, and a completion if it ends the task."""

    text: str
    ok: bool = True
    completion: str | None = None


class ToolExecutor:
    """Runs tool bodies for one session (on the client, or through the hooks)."""

    def __init__(
        self, client: AgentSideConnection, ops: ClientOps, session_id: str, hooks: TurnHooks
    ) -> None:
        self._client = client
        self._ops = ops
        self._git = GitTools(ops)
        self._session_id = session_id
        self._hooks = hooks

    @property
    def ops(self) -> ClientOps:
        return self._ops

    async def prepare(self, tool: ToolDef, args: Any) -> str | None:
        """Work done before approval: an edit's new content (errors surface before asking)."""
        if isinstance(args, a.EditFileArgs):
            current = await self._ops.read_whole(args.path)
            return replace_once(current, args.old_text, args.new_text, args.path)
        return None

    async def execute(
        self, tool: ToolDef, args: Any, tool_call_id: str, prepared: str | None
    ) -> Outcome:
        for family in (self._files, self._git_tool, self._session):
            outcome = await family(args, tool_call_id, prepared)
            if outcome is not None:
                return outcome
        raise AssertionError(f"tool {tool.name} has no implementation")

    async def _files(self, args: Any, _call_id: str, prepared: str | None) -> Outcome | None:
        ops = self._ops
        match args:
            case a.ReadFileArgs():
                return Outcome(await ops.read_file(args.path, args.offset, args.limit))
            case a.WriteFileArgs():
                return Outcome(await ops.write_file(args.path, args.content))
            case a.EditFileArgs():
                await ops.write_file(args.path, prepared if prepared is not None else "")
                return Outcome(f"Edited {args.path}: replaced 1 occurrence.")
            case a.ListFilesArgs():
                return Outcome(await ops.list_files(args.path))
            case a.SearchFilesArgs():
                return Outcome(await ops.search_files(args.pattern, args.path))
            case a.ExecuteCommandArgs():
                return Outcome(await ops.execute_command(args.command))
        return None

    async def _git_tool(self, args: Any, _call_id: str, _prepared: str | None) -> Outcome | None:
        git = self._git
        match args:
            case a.GitStatusArgs():
                return Outcome(await git.status())
            case a.GitDiffArgs():
                return Outcome(await git.diff(args.path, args.staged))
            case a.GitLogArgs():
                return Outcome(await git.log(args.max_count, args.path))
            case a.GitBranchArgs():
                return Outcome(await git.branch())
            case a.GitCommitArgs():
                return Outcome(await git.commit(args.message, args.paths))
        return None

    async def _session(self, args: Any, call_id: str, _prepared: str | None) -> Outcome | None:
        match args:
            case a.SwitchModeArgs():
                if error := await self._hooks.switch_mode(args.mode, args.reason):
                    return Outcome(error, ok=False)
                return Outcome(f"Switched to {args.mode}. Continue as the {args.mode} agent.")
            case a.NewTaskArgs():
                result = await self._hooks.new_task(args.mode, args.instructions, call_id)
                return Outcome(f"Subtask ({args.mode}) completed. Result:\n{result}")
            case a.UpdatePlanArgs():
                await self._hooks.update_plan([e.model_dump() for e in args.entries])
                return Outcome(f"Plan updated ({len(args.entries)} entries).")
            case a.AskFollowupArgs():
                return Outcome(await self._ask(args, call_id))
            case a.AttemptCompletionArgs():
                return Outcome("Task completed.", completion=args.result)
        return None

    async def _ask(self, args: a.AskFollowupArgs, tool_call_id: str) -> str:
        response = await self._client.ext_method(
            ASK_FOLLOWUP_METHOD,
            {
                "sessionId": self._session_id,
                "toolCallId": tool_call_id,
                "question": args.question,
                "suggestions": args.suggestions,
            },
        )
        answer = response.get("answer") if isinstance(response, dict) else None
        if not isinstance(answer, str):
            return "The user gave no answer."
        return f"The user answered: {answer}"
