"""The tools offered to the model, as pydantic argument models (the JSON schema comes free).

Each tool belongs to a :class:`~codelab_runtime.agents.specs.ToolGroup` (``None``: every
agent has it), has an ACP tool kind for the client's UI, and says whether it needs the
user's approval before it runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from acp.schema import ToolKind
from pydantic import BaseModel, Field

from codelab_runtime.agents.specs import AgentSpec, ToolGroup


class ReadFileArgs(BaseModel):
    path: str = Field(description="File path, relative to the workspace root or absolute.")


class WriteFileArgs(BaseModel):
    path: str = Field(description="File path, relative to the workspace root or absolute.")
    content: str = Field(description="The complete new content of the file.")


class ListFilesArgs(BaseModel):
    path: str = Field(default=".", description="Directory to list, relative to the workspace.")


class SearchFilesArgs(BaseModel):
    pattern: str = Field(description="Basic regular expression to search for (grep).")
    path: str = Field(default=".", description="Directory or file to search in.")


class RunCommandArgs(BaseModel):
    command: str = Field(description="Shell command to run in the workspace root.")


class SwitchModeArgs(BaseModel):
    mode: str = Field(description="Mode (agent) to hand the conversation to.")
    reason: str = Field(default="", description="Why, in one sentence.")


@dataclass(frozen=True, slots=True)
class ToolDef:
    """One tool: its schema, which group grants it, its ACP kind, and its approval policy."""

    name: str
    description: str
    args: type[BaseModel]
    group: ToolGroup | None
    kind: ToolKind
    needs_approval: bool

    def openai_schema(self) -> dict[str, Any]:
        schema = self.args.model_json_schema()
        schema.pop("title", None)
        for prop in schema.get("properties", {}).values():
            prop.pop("title", None)
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": schema},
        }


TOOLS: dict[str, ToolDef] = {
    t.name: t
    for t in (
        ToolDef("read_file", "Read a text file.", ReadFileArgs, ToolGroup.READ, "read", False),
        ToolDef(
            "list_files",
            "List files under a directory (recursive, hidden entries skipped).",
            ListFilesArgs,
            ToolGroup.READ,
            "search",
            False,
        ),
        ToolDef(
            "search_files",
            "Search file contents with grep; returns file:line:text matches.",
            SearchFilesArgs,
            ToolGroup.READ,
            "search",
            False,
        ),
        ToolDef(
            "write_file",
            "Create or overwrite a file with the given content (the user approves).",
            WriteFileArgs,
            ToolGroup.EDIT,
            "edit",
            True,
        ),
        ToolDef(
            "run_command",
            "Run a shell command in the workspace (the user approves).",
            RunCommandArgs,
            ToolGroup.COMMAND,
            "execute",
            True,
        ),
        ToolDef(
            "switch_mode",
            "Hand the conversation to another agent mode.",
            SwitchModeArgs,
            None,
            "switch_mode",
            False,
        ),
    )
}


def tools_for(spec: AgentSpec) -> list[ToolDef]:
    """The tools an agent is offered: its groups' tools, plus switch_mode if it may switch."""
    return [
        t
        for t in TOOLS.values()
        if (t.group is None and spec.may_switch_to) or t.group in spec.tool_groups
    ]


def truncate(text: str, limit_bytes: int) -> str:
    """Cut ``text`` to ``limit_bytes`` of UTF-8, saying so explicitly."""
    data = text.encode("utf-8")
    if len(data) <= limit_bytes:
        return text
    kept = data[:limit_bytes].decode("utf-8", errors="ignore")
    return f"{kept}\n[output truncated: {len(data) - limit_bytes} more bytes not shown]"
