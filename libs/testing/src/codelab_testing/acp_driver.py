"""Drive a real CodeLab session over ACP as an editor would, and record what it shows.

Used by the e2e suite: the SDK's WebSocket client, our own ``CodelabClient`` (so file and
terminal requests go through the real workspace sandbox), a renderer writing to buffers.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from acp import PROTOCOL_VERSION, connect_to_agent, text_block
from acp.client.connection import ClientSideConnection
from acp.schema import (
    AgentMessageChunk,
    ClientCapabilities,
    CurrentModeUpdate,
    FileSystemCapabilities,
    PermissionOption,
    PromptResponse,
    RequestPermissionResponse,
    TextContentBlock,
    ToolCallProgress,
    ToolCallStart,
    ToolCallUpdate,
)
from acp.ws import create_websocket_stream

from codelab_client.client import CodelabClient
from codelab_client.permissions import PermissionAsker
from codelab_client.render import Renderer
from codelab_client.transport import WatchedTransport
from codelab_client.workspace import Workspace


class RecordingClient(CodelabClient):
    """Our real client, plus a record of every update and permission request."""

    def __init__(self, workspace: Path, *, allow: bool) -> None:
        self.stdout, self.stderr = io.StringIO(), io.StringIO()
        renderer = Renderer(self.stdout, self.stderr)
        asker = PermissionAsker(renderer, io.StringIO(), interactive=False, assume_yes=allow)
        super().__init__(Workspace(workspace), renderer, asker)
        self.updates: list[Any] = []
        self.permission_requests: list[ToolCallUpdate] = []
        self.fs_errors: list[str] = []
        self._changed = asyncio.Event()

    async def wait_for(self, condition: Callable[[], bool], within: float = 15.0) -> None:
        """Wait until ``condition`` holds after some update; TimeoutError after ``within`` s."""
        async with asyncio.timeout(within):
            while not condition():
                self._changed.clear()
                await self._changed.wait()

    async def session_update(self, session_id: str, update: Any, **kwargs: Any) -> None:
        self.updates.append(update)
        self._changed.set()
        await super().session_update(session_id, update, **kwargs)

    async def request_permission(
        self, session_id: str, tool_call: ToolCallUpdate, options: list[PermissionOption], **_: Any
    ) -> RequestPermissionResponse:
        self.permission_requests.append(tool_call)
        return await super().request_permission(session_id, tool_call, options)

    async def read_text_file(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().read_text_file(*args, **kwargs)
        except Exception as exc:
            self.fs_errors.append(str(exc))
            raise

    # -- what the user saw ---------------------------------------------------------------
    def text(self) -> str:
        return "".join(
            u.content.text
            for u in self.updates
            if isinstance(u, AgentMessageChunk) and isinstance(u.content, TextContentBlock)
        )

    def modes(self) -> list[str]:
        return [u.current_mode_id for u in self.updates if isinstance(u, CurrentModeUpdate)]

    def tool_statuses(self) -> list[tuple[str, str | None]]:
        return [
            (u.tool_call_id, u.status)
            for u in self.updates
            if isinstance(u, ToolCallStart | ToolCallProgress)
        ]


class AcpSession:
    """An open connection with one session on it."""

    def __init__(
        self, conn: ClientSideConnection, client: RecordingClient, transport: WatchedTransport
    ) -> None:
        self.conn = conn
        self.client = client
        self.transport = transport
        self.session_id = ""
        self.modes: Any = None

    async def new(self, cwd: Path) -> str:
        created = await self.conn.new_session(cwd=str(cwd), mcp_servers=[])
        self.session_id, self.modes = created.session_id, created.modes
        return self.session_id

    async def prompt(self, text: str) -> PromptResponse:
        return await self.conn.prompt(session_id=self.session_id, prompt=[text_block(text)])


@asynccontextmanager
async def acp_connection(
    ws_url: str, token: str | None, workspace: Path, *, allow: bool = True
) -> AsyncIterator[AcpSession]:
    """Connect, initialize, and yield; the caller creates or loads a session."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    transport = WatchedTransport(await create_websocket_stream(ws_url, headers=headers))
    client = RecordingClient(workspace, allow=allow)
    conn = connect_to_agent(client, transport)
    try:
        await conn.initialize(
            protocol_version=PROTOCOL_VERSION,
            client_capabilities=ClientCapabilities(
                fs=FileSystemCapabilities(read_text_file=True, write_text_file=True),
                terminal=True,
            ),
        )
        yield AcpSession(conn, client, transport)
    finally:
        await conn.close()
