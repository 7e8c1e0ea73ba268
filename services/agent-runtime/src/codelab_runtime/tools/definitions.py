"""The tools offered to the model: schema, group, ACP tool kind and approval need.

Each tool belongs to a :class:`~codelab_runtime.agents.specs.ToolGroup` (``None``: every
agent has it), has an ACP tool kind for the client's UI, and says whether it needs the
user's approval before it runs (the approval policy may still auto-approve it).
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from typing import Any

from acp.schema import ToolKind
from pydantic import BaseModel

from codelab_runtime.agents.specs import AgentSpec, ToolGroup
from codelab_runtime.tools import args as a


@dataclass(frozen=True, slots=True)
class ToolDef:
    """One tool: its schema, which group grants it, its ACP kind, and its approval policy."""

    name: str
    description: str
    args: type[BaseModel]
    group: ToolGroup | None
    kind: ToolKind
    needs_approval: bool = False

    def openai_schema(self) -> dict[str, Any]:
        return copy.deepcopy(_schema(self.name, self.description, self.args))


@functools.cache
def _schema(name: str, description: str, args: type[BaseModel]) -> dict[str, Any]:
    # Built once per tool: pydantic's schema generation is otherwise the loop's costliest step.
    schema = args.model_json_schema()
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
    return {
        "type": "function",
        "function": {"name": name, "description": description, "parameters": schema},
    }


R, E, C = ToolGroup.READ, ToolGroup.EDIT, ToolGroup.COMMAND

TOOLS: dict[str, ToolDef] = {
    t.name: t
    for t in (
        ToolDef(
            "read_file", "Read a text file, optionally a line range.", a.ReadFileArgs, R, "read"
        ),
        ToolDef("list_files", "List files under a directory.", a.ListFilesArgs, R, "search"),
        ToolDef(
            "search_files", "Search file contents (grep regex).", a.SearchFilesArgs, R, "search"
        ),
        ToolDef("git_status", "Branch and changed files.", a.GitStatusArgs, R, "read"),
        ToolDef("git_diff", "Changes with per-file line counts.", a.GitDiffArgs, R, "read"),
        ToolDef("git_log", "Recent commits.", a.GitLogArgs, R, "read"),
        ToolDef("git_branch", "Local branches and the current one.", a.GitBranchArgs, R, "read"),
        ToolDef(
            "write_file", "Create or overwrite a whole file.", a.WriteFileArgs, E, "edit", True
        ),
        ToolDef(
            "edit_file",
            "Replace one exact, unique occurrence of old_text with new_text in a file.",
            a.EditFileArgs,
            E,
            "edit",
            True,
        ),
        ToolDef(
            "execute_command",
            "Run a shell command in the workspace root.",
            a.ExecuteCommandArgs,
            C,
            "execute",
            True,
        ),
        ToolDef("git_commit", "Stage paths and commit.", a.GitCommitArgs, E, "execute", True),
        ToolDef(
            "switch_mode",
            "Hand the conversation to another agent.",
            a.SwitchModeArgs,
            None,
            "switch_mode",
        ),
        ToolDef(
            "new_task",
            "Run a subtask in another agent with its own context; returns its result.",
            a.NewTaskArgs,
            None,
            "think",
        ),
        ToolDef("update_plan", "Write the task plan (todo list).", a.UpdatePlanArgs, None, "think"),
        ToolDef(
            "ask_followup_question",
            "Ask the user a question and wait for the answer.",
            a.AskFollowupArgs,
            None,
            "think",
        ),
        ToolDef(
            "attempt_completion",
            "Finish the task with its final result.",
            a.AttemptCompletionArgs,
            None,
            "think",
        ),
    )
}

# Earlier names still accepted from a model (and from scripted conversations).
ALIASES = {"run_command": "execute_command"}
_NEEDS_HANDOFF = {"switch_mode", "new_task"}


def lookup(name: str) -> ToolDef | None:
    return TOOLS.get(ALIASES.get(name, name))


def tools_for(spec: AgentSpec) -> list[ToolDef]:
    """The tools an agent is offered: its groups' tools and the common ones."""
    return [
        t
        for t in TOOLS.values()
        if t.group in spec.tool_groups
        or (t.group is None and (t.name not in _NEEDS_HANDOFF or bool(spec.may_switch_to)))
    ]


def truncate(text: str, limit_bytes: int) -> str:
    """Cut ``text`` to ``limit_bytes`` of UTF-8, saying so explicitly."""
    data = text.encode("utf-8")
    if len(data) <= limit_bytes:
        return text
    kept = data[:limit_bytes].decode("utf-8", errors="ignore")
    return f"{kept}\n[output truncated: {len(data) - limit_bytes} more bytes not shown]"
