"""Resuming a turn after the socket drops: ``session/load`` with ``lastSeq``, then the
prompt's result as a ``_codelab/response`` notification (what the gateway does)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from codelab_client.chat import Chat, ChatOptions
from codelab_client.client import CodelabClient
from codelab_client.errors import ExitCode
from codelab_client.permissions import PermissionAsker
from codelab_client.render import Renderer
from codelab_client.workspace import Workspace


def chunk(text: str, seq: int, top_level: bool = False) -> dict[str, Any]:
    update = {"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": text}}
    params: dict[str, Any] = {"sessionId": "sess_r", "update": update}
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": "session/update", "params": params}
    (message if top_level else params)["_meta"] = {"codelab": {"seq": seq}}
    return message


def result(request: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request["id"], "result": body}


class FlakyGateway:
    """First connection dies mid-turn; the second replays after ``lastSeq`` and finishes."""

    def __init__(self) -> None:
        self.connections = 0
        self.load_params: dict[str, Any] | None = None
        self.auth: list[str | None] = []

    async def handle(self, ws: WebSocket) -> None:
        self.connections += 1
        self.auth.append(ws.headers.get("authorization"))
        await ws.accept()
        init = await ws.receive_json()
        await ws.send_json(result(init, {"protocolVersion": 1, "agentCapabilities": {}}))
        if self.connections == 1:
            new = await ws.receive_json()
            session = {"sessionId": "sess_r", "_meta": {"codelab": {"seq": 1}}}
            await ws.send_json(result(new, session))
            prompt = await ws.receive_json()
            assert prompt["method"] == "session/prompt"
            await ws.send_json(chunk("ab", 2))
            await ws.send_json(chunk("cd", 3, top_level=True))
            await ws.close(1012)
            return
        load = await ws.receive_json()
        assert load["method"] == "session/load"
        self.load_params = load["params"]
        await ws.send_json(chunk("ef", 4))
        await ws.send_json(result(load, {"_meta": {"codelab": {"seq": 5}}}))
        late = {"id": "c1:2", "result": {"stopReason": "end_turn"}}
        await ws.send_json({"jsonrpc": "2.0", "method": "_codelab/response", "params": late})
        await ws.receive_json()  # hold the socket until the client leaves


async def test_resumes_after_drop_with_last_seq(workspace: Path, serve_app: Any) -> None:
    gateway = FlakyGateway()
    app = Starlette(routes=[WebSocketRoute("/acp", gateway.handle)])
    out, err = io.StringIO(), io.StringIO()
    renderer = Renderer(out, err)
    asker = PermissionAsker(renderer, io.StringIO(), interactive=False, assume_yes=False)
    client = CodelabClient(Workspace(workspace), renderer, asker)

    async def token() -> SecretStr:
        return SecretStr("tok")

    async with serve_app(app) as url:
        code = await Chat(ChatOptions(url, "go"), client, token).run()
    assert code == ExitCode.OK, err.getvalue()
    assert out.getvalue() == "abcdef\n"
    assert gateway.connections == 2
    assert gateway.load_params is not None
    assert gateway.load_params["sessionId"] == "sess_r"
    assert gateway.load_params["_meta"] == {"codelab": {"lastSeq": 3}}
    assert gateway.auth == ["Bearer tok", "Bearer tok"]
    assert "reconnecting (after seq 3)" in err.getvalue()
