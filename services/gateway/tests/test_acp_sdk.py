"""The agent-client-protocol SDK's own WebSocket client works against /acp unchanged."""

from __future__ import annotations

from typing import Any

import acp
from acp.schema import ReadTextFileResponse, SessionNotification
from acp.ws import create_websocket_stream

from codelab_testing.tokens import TestIssuer

from .conftest import ScriptedRuntime


class RecordingClient:
    """An editor stand-in: serves fs reads and records session updates."""

    def __init__(self) -> None:
        self.updates: list[Any] = []
        self.reads: list[str] = []

    async def session_update(self, session_id: str, update: Any, **kwargs: Any) -> None:
        self.updates.append(SessionNotification(session_id=session_id, update=update))

    async def read_text_file(self, path: str, session_id: str, **kwargs: Any) -> Any:
        self.reads.append(path)
        return ReadTextFileResponse(content="from the editor")

    async def ext_notification(self, method: str, params: dict[str, Any]) -> None:
        return None

    def on_connect(self, conn: Any) -> None:
        return None


async def test_sdk_client_round_trip(
    gateway: str, issuer: TestIssuer, runtime: ScriptedRuntime
) -> None:
    client = RecordingClient()
    transport = await create_websocket_stream(
        f"ws://{gateway}/acp", headers={"Authorization": f"Bearer {issuer.token()}"}
    )
    conn = acp.connect_to_agent(client, transport)  # type: ignore[arg-type]
    try:
        init = await conn.initialize(protocol_version=acp.PROTOCOL_VERSION)
        assert init.agent_capabilities is not None
        assert init.agent_capabilities.load_session is True
        session = await conn.new_session(cwd="/work/x", mcp_servers=[])
        assert session.session_id.startswith("sess_")
        done = await conn.prompt(
            session_id=session.session_id, prompt=[acp.text_block("read /work/x/a.py")]
        )
    finally:
        await conn.close()
        await transport.close()
    assert done.stop_reason == "end_turn"
    assert client.reads == ["/work/x/a.py"]
    texts = [u.update.content.text for u in client.updates]
    assert texts == ["file says: from the editor"]
