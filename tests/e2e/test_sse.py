"""A web client over HTTP + SSE, and a session that moves between SSE and WebSocket."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from codelab_testing.acp_driver import acp_connection
from codelab_testing.fake_provider_models import Reply
from codelab_testing.mesh_fixture import RunningMesh

FIXED = "def add(a, b):\n    return a + b\n"


class SseEvent:
    """One parsed server-sent event."""

    def __init__(self, event_id: str | None, event: str | None, data: str) -> None:
        self.id = event_id
        self.event = event
        self.message: dict[str, Any] = json.loads(data) if data else {}


@asynccontextmanager
async def event_stream(
    http: httpx.AsyncClient, session_id: str, last_event_id: str | None = None
) -> AsyncIterator[AsyncIterator[SseEvent]]:
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    async with http.stream("GET", f"/v1/sessions/{session_id}/events", headers=headers) as resp:
        assert resp.status_code == 200, await resp.aread()
        assert resp.headers["content-type"].startswith("text/event-stream")

        async def events() -> AsyncIterator[SseEvent]:
            fields: dict[str, str] = {}
            data: list[str] = []
            async for line in resp.aiter_lines():
                if line == "":
                    if data:
                        yield SseEvent(fields.get("id"), fields.get("event"), "\n".join(data))
                    fields, data = {}, []
                elif line.startswith(":"):
                    continue
                else:
                    name, _, value = line.partition(":")
                    value = value.removeprefix(" ")
                    if name == "data":
                        data.append(value)
                    else:
                        fields[name] = value

        yield events()


async def _answer(http: httpx.AsyncClient, session_id: str, msg: dict[str, Any], ws: Path) -> None:
    method, params = msg["method"], msg["params"]
    if method == "fs/read_text_file":
        result: Any = {"content": (ws / Path(params["path"]).name).read_text()}
    elif method == "fs/write_text_file":
        (ws / Path(params["path"]).name).write_text(params["content"])
        result = None
    elif method == "session/request_permission":
        allow = next(o for o in params["options"] if o["kind"] == "allow_once")
        result = {"outcome": {"outcome": "selected", "optionId": allow["optionId"]}}
    else:
        raise AssertionError(f"unexpected agent request {method}")
    response = await http.post(
        f"/v1/sessions/{session_id}/responses/{msg['id']}", json={"result": result}
    )
    assert response.status_code == 202, response.text


async def test_sse_client_end_to_end_then_resume(mesh: RunningMesh, tmp_path: Path) -> None:
    (tmp_path / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    script = f"sse-{uuid.uuid4().hex[:8]}"
    mesh.set_script(
        script,
        [
            Reply.tool("switch_mode", {"mode": "coder", "reason": "edit"}),
            Reply.tool("read_file", {"path": "calc.py"}),
            Reply.tool("write_file", {"path": "calc.py", "content": FIXED}),
            Reply.text("Done over SSE."),
        ],
    )
    token = mesh.token("demo", "demo")
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=mesh.public_url, headers=headers, timeout=30) as http:
        created = await http.post("/v1/sessions", json={"cwd": str(tmp_path), "mcpServers": []})
        assert created.status_code == 201, created.text
        session_id = created.json()["sessionId"]
        seen: list[SseEvent] = []
        async with event_stream(http, session_id) as events:
            prompt = await http.post(
                f"/v1/sessions/{session_id}/prompt", json={"text": f"fix [[script:{script}]]"}
            )
            assert prompt.status_code == 202
            request_id = prompt.json()["requestId"]
            async with asyncio.timeout(30):
                async for event in events:
                    seen.append(event)
                    msg = event.message
                    if "method" in msg and "id" in msg:
                        await _answer(http, session_id, msg, tmp_path)
                    if event.event == "response" and msg.get("id") == request_id:
                        break
        assert seen[-1].message["result"]["stopReason"] == "end_turn"
        assert (tmp_path / "calc.py").read_text() == FIXED
        seqs = [int(e.id) for e in seen if e.id]
        assert seqs == sorted(seqs)
        assert len(set(seqs)) == len(seqs)
        text = "".join(
            e.message["params"]["update"]["content"]["text"]
            for e in seen
            if e.event == "session/update"
            and e.message["params"]["update"]["sessionUpdate"] == "agent_message_chunk"
        )
        assert "Done over SSE." in text

        # Resume from the middle: exactly the events after it, in order.
        middle = seen[len(seen) // 2]
        assert middle.id is not None
        resumed: list[SseEvent] = []
        async with event_stream(http, session_id, last_event_id=middle.id) as events:
            async with asyncio.timeout(10):
                async for event in events:
                    resumed.append(event)
                    if event.id == seen[-1].id:
                        break
        assert [e.id for e in resumed] == [e.id for e in seen if int(e.id or 0) > int(middle.id)]

    # The same session continues over the WebSocket (another transport, maybe another replica).
    follow_up = f"sse-ws-{uuid.uuid4().hex[:8]}"
    mesh.set_script(follow_up, [Reply.text("Continuing on the WebSocket.")])
    async with acp_connection(mesh.ws_url, token, tmp_path) as acp:
        loaded = await acp.conn.load_session(
            cwd=str(tmp_path),
            session_id=session_id,
            codelab={"lastSeq": int(seen[-1].id or 0)},
        )
        assert loaded is not None
        acp.session_id = session_id
        response = await acp.prompt(f"and now? [[script:{follow_up}]]")
    assert response.stop_reason == "end_turn"
    assert acp.client.text() == "Continuing on the WebSocket."
    history = mesh.model_requests(follow_up)[0]["messages"]
    assert any("fix [[script:" in json.dumps(m) for m in history), "history was not kept"
