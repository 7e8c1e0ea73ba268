"""Custom agents (modes) declared in a TOML file, validated when the runtime starts.

```toml
[[agents]]
mode_id = "reviewer"
name = "Reviewer"
description = "Reviews changes; may write review notes."
instructions = "You review code..."          # or: instructions_file = "reviewer.md"
tool_groups = ["read"]                        # read, edit, command
file_patterns = ["reviews/*.md"]              # where edits may go (empty: anywhere)
may_switch_to = ["coder", "ask"]              # default: every other agent
```

A custom agent with a built-in's ``mode_id`` replaces it. Any mistake (unknown group,
hand-off to an unknown mode, a missing instructions file) stops start-up with a clear
error instead of surfacing mid-conversation.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from codelab_runtime.agents.specs import AgentSpec, ToolGroup
from codelab_runtime.errors import AgentConfigError


class _AgentEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode_id: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,39}$")
    name: str
    description: str
    instructions: str | None = None
    instructions_file: str | None = None
    tool_groups: list[ToolGroup] = Field(default_factory=list)
    file_patterns: list[str] = Field(default_factory=list)
    may_switch_to: list[str] | None = None


class _AgentsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agents: list[_AgentEntry]


def load_agents(path: Path, base: dict[str, AgentSpec]) -> dict[str, AgentSpec]:
    """``base`` plus the agents declared in ``path``; raises :class:`AgentConfigError`."""
    try:
        declared = _AgentsFile.model_validate(tomllib.loads(path.read_text("utf-8"))).agents
    except (OSError, tomllib.TOMLDecodeError, ValidationError) as exc:
        raise AgentConfigError(f"{path}: {exc}") from exc
    ids = [entry.mode_id for entry in declared]
    if len(ids) != len(set(ids)):
        raise AgentConfigError(f"{path}: a mode_id is declared twice")
    known = set(base) | set(ids)
    agents = dict(base)
    for entry in declared:
        targets = entry.may_switch_to
        if targets is None:
            targets = sorted(known - {entry.mode_id})
        if unknown := set(targets) - known:
            raise AgentConfigError(f"{path}: {entry.mode_id} hands to unknown {sorted(unknown)}")
        agents[entry.mode_id] = AgentSpec(
            mode_id=entry.mode_id,
            name=entry.name,
            description=entry.description,
            instructions=_instructions(path, entry),
            tool_groups=frozenset(entry.tool_groups),
            may_switch_to=frozenset(targets),
            file_patterns=tuple(entry.file_patterns),
        )
    return agents


def _instructions(path: Path, entry: _AgentEntry) -> str:
    if (entry.instructions is None) == (entry.instructions_file is None):
        raise AgentConfigError(
            f"{path}: {entry.mode_id} needs exactly one of instructions, instructions_file"
        )
    if entry.instructions is not None:
        return entry.instructions
    file = path.parent / str(entry.instructions_file)
    try:
        return file.read_text("utf-8")
    except OSError as exc:
        raise AgentConfigError(f"{path}: {entry.mode_id}: {exc}") from exc
