"""Agents are data: a mode id, instructions, tool groups and where they may hand off to.

One loop (:func:`codelab_runtime.loop.run_turn`) runs every agent; what differs is only
what is declared here. Instructions live in ``prompts/<mode>.md`` beside this module so
they are versioned and reviewed like code.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources

from acp.schema import SessionMode, SessionModeState


class ToolGroup(StrEnum):
    """Families of tools an agent may be granted."""

    READ = "read"
    EDIT = "edit"
    COMMAND = "command"


@dataclass(frozen=True, slots=True)
class AgentSpec:
    """One agent (an ACP session mode)."""

    mode_id: str
    name: str
    description: str
    instructions: str
    tool_groups: frozenset[ToolGroup]
    may_switch_to: frozenset[str]
    # Glob patterns an EDIT tool may write to; empty means any path.
    file_patterns: tuple[str, ...] = field(default=())

    def may_edit(self, path: str) -> bool:
        if ToolGroup.EDIT not in self.tool_groups:
            return False
        return not self.file_patterns or any(
            fnmatch.fnmatch(path, pattern) for pattern in self.file_patterns
        )


def _prompt(mode_id: str) -> str:
    return (resources.files(__package__) / "prompts" / f"{mode_id}.md").read_text("utf-8")


ALL_MODES = ("orchestrator", "coder", "architect", "debug", "ask")


def default_agents(*, debug_may_edit: bool = False) -> dict[str, AgentSpec]:
    """The five built-in agents, keyed by mode id (orchestrator first: the default mode).

    ``debug_may_edit`` (a user's configuration) lets Debug apply the fixes it finds.
    """

    def spec(
        mode_id: str,
        name: str,
        description: str,
        groups: set[ToolGroup],
        patterns: tuple[str, ...] = (),
    ) -> AgentSpec:
        return AgentSpec(
            mode_id=mode_id,
            name=name,
            description=description,
            instructions=_prompt(mode_id),
            tool_groups=frozenset(groups),
            may_switch_to=frozenset(m for m in ALL_MODES if m != mode_id),
            file_patterns=patterns,
        )

    agents = [
        spec(
            "orchestrator",
            "Orchestrator",
            "Understands the request and routes it to the right specialist.",
            set(),
        ),
        spec(
            "coder",
            "Coder",
            "Writes and changes code; may run commands.",
            {ToolGroup.READ, ToolGroup.EDIT, ToolGroup.COMMAND},
        ),
        spec(
            "architect",
            "Architect",
            "Plans and designs; may only write Markdown documents.",
            {ToolGroup.READ, ToolGroup.EDIT},
            ("*.md",),
        ),
        spec(
            "debug",
            "Debug",
            "Investigates failures: reads code and runs commands"
            + (" and may apply fixes." if debug_may_edit else ", never edits."),
            {ToolGroup.READ, ToolGroup.COMMAND, *([ToolGroup.EDIT] if debug_may_edit else [])},
        ),
        spec("ask", "Ask", "Answers questions about the code; read-only.", {ToolGroup.READ}),
    ]
    return {agent.mode_id: agent for agent in agents}


def mode_state(agents: dict[str, AgentSpec], current: str) -> SessionModeState:
    """The ACP ``modes`` object for session/new and session/load responses."""
    return SessionModeState(
        current_mode_id=current,
        available_modes=[
            SessionMode(id=a.mode_id, name=a.name, description=a.description)
            for a in agents.values()
        ],
    )
