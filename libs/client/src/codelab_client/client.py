"""The ``acp.Client`` side of a chat: renders updates, serves fs/terminal inside the sandbox."""

from __future__ import annotations

import asyncio
from typing import Any

from acp import RequestError
from acp.interfaces import Agent
from acp.schema import (
    AgentMessageChunk,
    AgentPlanUpdate,
    AgentThoughtChunk,
    CreateElicitationResponse,
    CreateTerminalResponse,
    CurrentModeUpdate,
    ElicitationMode,
    EnvVariable,
    KillTerminalResponse,
    PermissionOption,
    ReadTextFileResponse,
    ReleaseTerminalResponse,
    RequestPermissionResponse,
    TerminalOutputResponse,
    TextContentBlock,
    ToolCallProgress,
    ToolCallStart,
    ToolCallUpdate,
    WaitForTerminalExitResponse,
    WriteTextFileResponse,
)

from codelab_client.permissions import PermissionAsker
from codelab_client.render import Renderer
from codelab_client.terminals import TerminalManager
from codelab_client.workspace import Workspace
from codelab_common.protocol import EXT_RESPONSE

# The runtime's ask_followup_question tool (docs/protocol.md); not in codelab_common yet.
EXT_ASK_FOLLOWUP = "_codelab/ask_followup"


class CodelabClient:
    """One chat's client: the renderer, the permission asker, the workspace and terminals.

    It outlives a single connection, so a reconnect keeps the same terminals and screen.
    """

    def __init__(
        self,
        workspace: Workspace,
        renderer: Renderer,
        asker: PermissionAsker,
    ) -> None:
        self.workspace = workspace
        self.renderer = renderer
        self.asker = asker
        self.terminals = TerminalManager(workspace)
        # Responses to requests sent on an earlier connection (``_codelab/response``).
        self.late_responses: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        # While ``session/load`` replays an old conversation, updates are counted, not shown.
        self.muted = False
        self.hidden_updates = 0

    def on_connect(self, conn: Agent) -> None:
        """Nothing to keep: the chat driver owns the connection."""

    async def session_update(self, session_id: str, update: Any, **kwargs: Any) -> None:
        if self.muted:
            self.hidden_updates += 1
        elif isinstance(update, AgentMessageChunk):
            if isinstance(update.content, TextContentBlock):
                self.renderer.message(update.content.text)
        elif isinstance(update, AgentThoughtChunk):
            if isinstance(update.content, TextContentBlock):
                self.renderer.thought(update.content.text)
        elif isinstance(update, ToolCallStart | ToolCallProgress):
            self.renderer.tool_call(update)
        elif isinstance(update, AgentPlanUpdate):
            self.renderer.plan(update)
        elif isinstance(update, CurrentModeUpdate):
            self.renderer.mode_switch(update.current_mode_id)

    async def request_permission(
        self, session_id: str, tool_call: ToolCallUpdate, options: list[PermissionOption], **_: Any
    ) -> RequestPermissionResponse:
        return await self.asker.ask(tool_call, options)

    async def read_text_file(
        self,
        session_id: str,
        path: str,
        line: int | None = None,
        limit: int | None = None,
        **_: Any,
    ) -> ReadTextFileResponse:
        return ReadTextFileResponse(content=await self.workspace.read_text(path, line, limit))

    async def write_text_file(
        self, session_id: str, path: str, content: str, **_: Any
    ) -> WriteTextFileResponse:
        await self.workspace.write_text(path, content)
        return WriteTextFileResponse()

    async def create_terminal(
        self,
        session_id: str,
        command: str,
        args: list[str] | None = None,
        env: list[EnvVariable] | None = None,
        cwd: str | None = None,
        output_byte_limit: int | None = None,
        **_: Any,
    ) -> CreateTerminalResponse:
        variables = {item.name: item.value for item in env or []}
        terminal_id = await self.terminals.create(command, args, variables, cwd, output_byte_limit)
        return CreateTerminalResponse(terminal_id=terminal_id)

    async def terminal_output(
        self, session_id: str, terminal_id: str, **_: Any
    ) -> TerminalOutputResponse:
        terminal = self.terminals.get(terminal_id)
        return TerminalOutputResponse(
            output=terminal.output(),
            truncated=terminal.truncated,
            exit_status=terminal.exit_status(),
        )

    async def wait_for_terminal_exit(
        self, session_id: str, terminal_id: str, **_: Any
    ) -> WaitForTerminalExitResponse:
        status = await self.terminals.wait(terminal_id)
        return WaitForTerminalExitResponse(exit_code=status.exit_code, signal=status.signal)

    async def kill_terminal(
        self, session_id: str, terminal_id: str, **_: Any
    ) -> KillTerminalResponse | None:
        self.terminals.kill(terminal_id)
        return KillTerminalResponse()

    async def release_terminal(
        self, session_id: str, terminal_id: str, **_: Any
    ) -> ReleaseTerminalResponse | None:
        self.terminals.get(terminal_id)
        await self.terminals.release(terminal_id)
        return ReleaseTerminalResponse()

    async def create_elicitation(
        self, message: str, mode: ElicitationMode, **_: Any
    ) -> CreateElicitationResponse:
        # Not advertised in our capabilities; an agent that asks anyway gets a clear error.
        raise RequestError.method_not_found("elicitation/create")

    async def complete_elicitation(self, elicitation_id: str, **_: Any) -> None:
        """Never started one, so there is nothing to complete."""

    async def ext_method(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        # The SDK strips the leading underscore of extension method names.
        if f"_{method}" == EXT_ASK_FOLLOWUP:
            question = params.get("question")
            if not isinstance(question, str):
                raise RequestError.invalid_params({"question": "a string is required"})
            raw = params.get("suggestions")
            suggestions = [str(s) for s in raw] if isinstance(raw, list) else []
            return await self.asker.ask_followup(question, suggestions)
        raise RequestError.method_not_found(f"_{method}")

    async def ext_notification(self, method: str, params: dict[str, Any]) -> None:
        if f"_{method}" == EXT_RESPONSE:
            self.late_responses.put_nowait(params)
