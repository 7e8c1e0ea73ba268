"""Approval policy: which tool calls run without asking, which ask, which are refused.

Reads, searches and session tools run without asking; edits and commands ask, unless a
rule says otherwise. Command rules are prefixes (``"git status"``, ``"rm -rf"``) mapped
to allow or deny; the longest matching prefix wins, so ``"git"`` may be allowed while
``"git push"`` is denied. Edit rules are path globs that are auto-approved.
"""

from __future__ import annotations

import fnmatch
import shlex
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from codelab_runtime.tools.definitions import ToolDef


class Decision(StrEnum):
    """What the policy says about one tool call."""

    ALLOW = "allow"
    ASK = "ask"
    DENY = "deny"


def _matches(command: str, prefix: str) -> bool:
    # A prefix matches whole words only: "git" matches "git log" but not "gitk".
    return command == prefix or command.startswith(prefix.rstrip() + " ")


@dataclass(frozen=True, slots=True)
class ApprovalPolicy:
    """Command prefix rules and auto-approved edit paths (from settings)."""

    command_allow: tuple[str, ...] = ()
    command_deny: tuple[str, ...] = ()
    edit_allow: tuple[str, ...] = field(default=())

    def command_rule(self, command: str) -> Decision | None:
        """The decision of the longest matching prefix rule (deny wins a tie), if any."""
        command = " ".join(command.split())
        best: tuple[int, int, Decision] | None = None
        for rules, decision, rank in (
            (self.command_allow, Decision.ALLOW, 0),
            (self.command_deny, Decision.DENY, 1),
        ):
            for prefix in rules:
                if _matches(command, " ".join(prefix.split())):
                    candidate = (len(prefix.strip()), rank, decision)
                    best = max(best, candidate) if best else candidate
        return best[2] if best else None

    def decide(self, tool: ToolDef, args: dict[str, Any], path: str | None) -> Decision:
        if not tool.needs_approval:
            return Decision.ALLOW
        command = args.get("command")
        if tool.kind == "execute" and isinstance(command, str):
            return self.command_rule(command) or Decision.ASK
        if tool.kind == "edit" and path and any(fnmatch.fnmatch(path, p) for p in self.edit_allow):
            return Decision.ALLOW
        return Decision.ASK


def always_key(tool: ToolDef, args: dict[str, Any]) -> str:
    """What an "allow always" answer covers: a tool, or a command by its program name."""
    command = args.get("command")
    if tool.kind == "execute" and isinstance(command, str):
        try:
            words = shlex.split(command)
        except ValueError:
            words = command.split()
        return f"{tool.name}:{words[0] if words else ''}"
    return tool.name
