"""Terminal output of a chat turn.

stdout carries only the agent's message text, so ``codelab chat ... > answer.md`` works;
everything else (mode banners, thoughts, tool and plan lines, prompts, the session id)
goes to stderr. Both usually land on the same terminal, so line breaks between the two
are tracked here.
"""

from __future__ import annotations

import difflib
import json
from typing import Any, Literal, TextIO

from acp.schema import (
    AgentPlanUpdate,
    FileEditToolCallContent,
    TerminalToolCallContent,
    ToolCallProgress,
    ToolCallStart,
    ToolCallUpdate,
)

DIM, BOLD, RESET = "\x1b[2m", "\x1b[1m", "\x1b[0m"
_PLAN_MARK = {"completed": "[x]", "in_progress": "[~]", "pending": "[ ]"}
_STATUS_MARK = {"pending": "…", "in_progress": "▶", "completed": "✓", "failed": "✗"}


class Renderer:
    """Writes one turn's events in arrival order; ``color`` adds ANSI dim/bold."""

    def __init__(self, out: TextIO, err: TextIO, color: bool = False) -> None:
        self.out = out
        self.err = err
        self.color = color
        self.mode: str | None = None
        self._open: Literal["out", "thought"] | None = None
        self._titles: dict[str, str] = {}
        self._kinds: dict[str, str] = {}

    def _style(self, text: str, style: str) -> str:
        return f"{style}{text}{RESET}" if self.color else text

    def _close_line(self) -> None:
        if self._open is not None:
            # The break goes to stderr so stdout stays exactly the agent's text.
            self.err.write("\n")
            self.err.flush()
            self._open = None

    def info(self, line: str) -> None:
        self._close_line()
        self.err.write(line + "\n")
        self.err.flush()

    def message(self, text: str) -> None:
        if self._open == "thought":
            self._close_line()
        self.out.write(text)
        self.out.flush()
        self._open = None if text.endswith("\n") else "out"

    def thought(self, text: str) -> None:
        if self._open == "out":
            self._close_line()
        self.err.write(self._style(text, DIM))
        self.err.flush()
        self._open = None if text.endswith("\n") else "thought"

    def mode_switch(self, mode: str) -> None:
        """``── debug ──`` whenever the speaking agent changes (and once at the start)."""
        if mode == self.mode:
            return
        self.mode = mode
        self.info(self._style(f"── {mode} ──", BOLD))

    def tool_call(self, update: ToolCallStart | ToolCallProgress) -> None:
        call_id = update.tool_call_id
        if update.title:
            self._titles[call_id] = update.title
        if update.kind:
            self._kinds[call_id] = update.kind
        if isinstance(update, ToolCallProgress) and update.status is None:
            return  # content-only progress: the status line would repeat itself
        status = update.status or "pending"
        title = self._titles.get(call_id, call_id)
        kind = self._kinds.get(call_id, "other")
        self.info(f"{_STATUS_MARK.get(status, '?')} {title} [{kind}] {status}")

    def plan(self, update: AgentPlanUpdate) -> None:
        lines = [f"  {_PLAN_MARK.get(e.status, '[ ]')} {e.content}" for e in update.entries]
        self.info("plan:\n" + "\n".join(lines))

    def end_turn(self) -> None:
        if self._open == "out":
            self.out.write("\n")
            self.out.flush()
            self._open = None
        self._close_line()

    def permission_request(self, tool_call: ToolCallUpdate) -> None:
        """Show what the agent wants to do: the title, then the command or the diff."""
        title = tool_call.title or self._titles.get(tool_call.tool_call_id, "a tool call")
        self.info(self._style(f"? permission: {title}", BOLD))
        for detail in describe_tool_call(tool_call):
            self.info(detail)

    def question(self, question: str, suggestions: list[str]) -> None:
        """A follow-up question from the agent, with its suggested answers numbered."""
        self.info(self._style(f"? question: {question}", BOLD))
        for number, suggestion in enumerate(suggestions, start=1):
            self.info(f"  {number}. {suggestion}")


def describe_tool_call(tool_call: ToolCallUpdate) -> list[str]:
    """Human-readable details of a tool call: its command, diffs, terminal references."""
    details: list[str] = []
    command = _command_of(tool_call.raw_input)
    if command:
        details.append(f"  $ {command}")
    for item in tool_call.content or []:
        if isinstance(item, FileEditToolCallContent):
            diff = difflib.unified_diff(
                (item.old_text or "").splitlines(keepends=True),
                item.new_text.splitlines(keepends=True),
                fromfile=f"a/{item.path}",
                tofile=f"b/{item.path}",
            )
            details.append("".join(diff).rstrip("\n") or f"  (no change to {item.path})")
        elif isinstance(item, TerminalToolCallContent):
            details.append(f"  terminal {item.terminal_id}")
    if not details and tool_call.raw_input is not None:
        details.append("  " + json.dumps(tool_call.raw_input, ensure_ascii=False)[:500])
    return details


def _command_of(raw_input: Any) -> str | None:
    if not isinstance(raw_input, dict):
        return None
    command = raw_input.get("command")
    if isinstance(command, str):
        args = raw_input.get("args")
        if isinstance(args, list):
            return " ".join([command, *(str(a) for a in args)])
        return command
    if isinstance(command, list):
        return " ".join(str(part) for part in command)
    return None
