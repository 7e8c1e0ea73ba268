"""The calc.py story over ACP through nginx: routing, reading, approval, editing, streaming."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest
from acp.schema import AgentMessageChunk, UsageUpdate

from codelab_testing.acp_driver import acp_connection
from codelab_testing.fake_provider_models import Reply
from codelab_testing.mesh_fixture import E2E_CONTEXT_WINDOW, RunningMesh

BROKEN = "def add(a, b):\n    return a - b\n"
FIXED = "def add(a, b):\n    return a + b\n"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "project"
    ws.mkdir()
    (ws / "calc.py").write_text(BROKEN)
    (ws / "test_calc.py").write_text(
        "from calc import add\n\ndef test_add():\n    assert add(2, 3) == 5\n"
    )
    return ws


def calc_script(final: str) -> list[Reply]:
    return [
        Reply.tool("switch_mode", {"mode": "debug", "reason": "a test fails"}),
        Reply.tool("read_file", {"path": "calc.py"}),
        Reply.tool("switch_mode", {"mode": "coder", "reason": "fix: + not -"}),
        Reply.tool("write_file", {"path": "calc.py", "content": FIXED}),
        Reply.text(final, chunk_chars=5),
    ]


def _tool_messages(request: dict[str, object]) -> list[str]:
    messages = request.get("messages", [])
    assert isinstance(messages, list)
    return [
        str(m.get("content")) for m in messages if isinstance(m, dict) and m.get("role") == "tool"
    ]


async def test_calc_story_approved(mesh: RunningMesh, workspace: Path) -> None:
    script = f"calc-{uuid.uuid4().hex[:8]}"
    mesh.set_script(script, calc_script("Fixed calc.py: add now returns a + b."))
    token = mesh.token("demo", "demo")
    async with acp_connection(mesh.ws_url, token, workspace, allow=True) as acp:
        await acp.new(workspace)
        assert acp.modes.current_mode_id == "orchestrator"
        response = await acp.prompt(f"fix the failing test in calc.py [[script:{script}]]")
    assert response.stop_reason == "end_turn"
    assert (workspace / "calc.py").read_text() == FIXED
    client = acp.client
    assert client.modes() == ["debug", "coder"]
    assert len(client.permission_requests) == 1
    assert "Fixed calc.py" in client.text()
    # The model saw the file the client read, then the result of the approved write.
    requests = mesh.model_requests(script)
    assert len(requests) == 5
    assert any("return a - b" in m for m in _tool_messages(requests[2]))
    # Coder is offered write_file, Debug is not.
    tools_of = [{t["function"]["name"] for t in r.get("tools", [])} for r in requests]
    assert "write_file" not in tools_of[1]
    assert "write_file" in tools_of[3]
    # The turn's cost is the llm-proxy's figure (the runtime has no prices configured).
    usage = [u for u in client.updates if isinstance(u, UsageUpdate)][-1]
    meta = (usage.field_meta or {})["codelab"]
    expected = (meta["turnPromptTokens"] * 1.0 + meta["turnCompletionTokens"] * 2.0) / 1e6
    assert expected > 0
    assert usage.cost is not None
    assert usage.cost.currency == "USD"
    assert usage.cost.amount == pytest.approx(expected)
    # The runtime learnt the model's window from the llm-proxy.
    assert usage.size == E2E_CONTEXT_WINDOW


async def test_calc_story_rejected_leaves_file_untouched(
    mesh: RunningMesh, workspace: Path
) -> None:
    script = f"calc-reject-{uuid.uuid4().hex[:8]}"
    mesh.set_script(script, calc_script("You rejected the edit, so calc.py is unchanged."))
    token = mesh.token("demo", "demo")
    async with acp_connection(mesh.ws_url, token, workspace, allow=False) as acp:
        await acp.new(workspace)
        response = await acp.prompt(f"fix calc.py [[script:{script}]]")
    assert response.stop_reason == "end_turn"
    assert (workspace / "calc.py").read_text() == BROKEN
    assert len(acp.client.permission_requests) == 1
    assert "unchanged" in acp.client.text()
    # The model was told the user rejected the edit.
    last = mesh.model_requests(script)[-1]
    assert any("reject" in m.lower() for m in _tool_messages(last))
    assert any(status == "failed" for _, status in acp.client.tool_statuses())


async def test_text_streams_before_the_model_finishes(mesh: RunningMesh, workspace: Path) -> None:
    script = f"stream-{uuid.uuid4().hex[:8]}"
    words = "one two three four five six seven eight nine ten"
    mesh.set_script(script, [Reply.text(words, chunk_chars=4, delay_per_chunk=0.15)])
    token = mesh.token("demo", "demo")
    async with acp_connection(mesh.ws_url, token, workspace) as acp:
        await acp.new(workspace)
        started = time.monotonic()
        turn = asyncio.create_task(acp.prompt(f"count [[script:{script}]]"))
        await acp.client.wait_for(
            lambda: any(isinstance(u, AgentMessageChunk) for u in acp.client.updates)
        )
        assert not turn.done(), "the turn ended before the first chunk reached the client"
        first_chunk = time.monotonic() - started
        response = await turn
        total = time.monotonic() - started
    assert response.stop_reason == "end_turn"
    assert acp.client.text() == words
    chunks = [u for u in acp.client.updates if isinstance(u, AgentMessageChunk)]
    assert len(chunks) > 5
    # 13 chunks at 0.15 s each: the first must arrive well before the last.
    assert first_chunk < total / 2, (first_chunk, total)


async def test_cancel_mid_turn(mesh: RunningMesh, workspace: Path) -> None:
    script = f"cancel-{uuid.uuid4().hex[:8]}"
    mesh.set_script(script, [Reply.text("x" * 400, chunk_chars=4, delay_per_chunk=0.1)])
    token = mesh.token("demo", "demo")
    async with acp_connection(mesh.ws_url, token, workspace) as acp:
        await acp.new(workspace)
        turn = asyncio.create_task(acp.prompt(f"write a lot [[script:{script}]]"))
        await acp.client.wait_for(lambda: bool(acp.client.text()))
        await acp.conn.cancel(session_id=acp.session_id)
        response = await asyncio.wait_for(turn, 10)
    assert response.stop_reason == "cancelled"
    assert len(acp.client.text()) < 400


async def test_path_outside_workspace_is_refused_by_the_client(
    mesh: RunningMesh, workspace: Path
) -> None:
    secret = workspace.parent / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    script = f"escape-{uuid.uuid4().hex[:8]}"
    mesh.set_script(
        script,
        [
            Reply.tool("switch_mode", {"mode": "debug", "reason": "look"}),
            Reply.tool("read_file", {"path": "../secret.txt"}),
            Reply.text("I may not read files outside the workspace."),
        ],
    )
    token = mesh.token("demo", "demo")
    async with acp_connection(mesh.ws_url, token, workspace) as acp:
        await acp.new(workspace)
        response = await acp.prompt(f"read the secret [[script:{script}]]")
    assert response.stop_reason == "end_turn"
    assert acp.client.fs_errors
    assert "outside the workspace" in acp.client.fs_errors[0]
    sent = str(mesh.model_requests(script))
    assert "TOP-SECRET-VALUE" not in sent
    assert "outside the workspace" in sent
