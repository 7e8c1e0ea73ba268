"""Issue 3 end to end: plans and subtasks survive a runtime kill; approvals survive a reconnect."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from acp.schema import AgentPlanUpdate, RequestPermissionResponse

from codelab_testing.acp_driver import RecordingClient, acp_connection
from codelab_testing.fake_provider_models import Reply
from codelab_testing.mesh_fixture import RunningMesh


def _user_texts(request: dict[str, Any]) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "user"]


async def test_plan_and_subtasks_survive_a_runtime_kill(mesh: RunningMesh, tmp_path: Path) -> None:
    script = f"subtasks-{uuid.uuid4().hex[:8]}"
    first_task = f"Explain calc [[script:{script}]]"
    second_task = f"Check the tests [[script:{script}]]"
    plan = [
        {"content": "Explain calc", "priority": "high", "status": "in_progress"},
        {"content": "Check the tests", "priority": "medium", "status": "pending"},
    ]
    mesh.set_script(
        script,
        [
            Reply.tool("update_plan", {"entries": plan}),
            Reply.tool("new_task", {"mode": "ask", "instructions": first_task}),
            Reply.tool("attempt_completion", {"result": "calc adds numbers"}),
            Reply.tool("new_task", {"mode": "ask", "instructions": second_task}),
            Reply.text("z" * 400, chunk_chars=4, delay_per_chunk=0.1),  # killed mid-stream
            Reply.tool("attempt_completion", {"result": "tests look fine"}),
            Reply.text("All subtasks done."),
        ],
    )
    token = mesh.token("demo", "demo")
    crashed: str | None = None
    try:
        async with acp_connection(mesh.ws_url, token, tmp_path) as acp:
            session_id = await acp.new(tmp_path)
            turn = asyncio.create_task(acp.prompt(f"explain and check [[script:{script}]]"))
            await acp.client.wait_for(lambda: "zzzz" in acp.client.text(), within=30)
            crashed = mesh.session_owner(session_id)
            assert crashed is not None
            mesh.crash(crashed)
            response = await asyncio.wait_for(turn, 60)
            assert response.stop_reason == "end_turn"
            assert acp.client.text().endswith("All subtasks done.")
            assert mesh.session_owner(session_id) not in (None, crashed)
            plans = [u for u in acp.client.updates if isinstance(u, AgentPlanUpdate)]
            assert [e.content for e in plans[0].entries] == ["Explain calc", "Check the tests"]
        requests = mesh.model_requests(script)
        # The finished subtask ran exactly once; the interrupted one was resumed, not restarted.
        assert sum(_user_texts(r) == [first_task] for r in requests) == 1
        assert sum(_user_texts(r) == [second_task] for r in requests) == 2
        last_tools = [m["content"] for m in requests[-1]["messages"] if m["role"] == "tool"]
        assert any("calc adds numbers" in t for t in last_tools)
        assert any("tests look fine" in t for t in last_tools)
    finally:
        if crashed is not None:
            mesh.restart(crashed)


async def test_pending_approval_is_resent_after_reconnecting_to_another_gateway(
    mesh: RunningMesh, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = f"approval-{uuid.uuid4().hex[:8]}"
    mesh.set_script(
        script,
        [
            Reply.tool("switch_mode", {"mode": "coder", "reason": "run it"}),
            Reply.tool("execute_command", {"command": "echo once >> approved.txt"}),
            Reply.text("Ran it."),
        ],
    )
    token = mesh.token("demo", "demo")
    asked = asyncio.Event()

    async def never_answer(
        self: RecordingClient, session_id: str, tool_call: Any, options: Any, **_: Any
    ) -> RequestPermissionResponse:
        asked.set()
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    # The SDK binds handlers when the connection is made: patch the class, for this one only.
    monkeypatch.setattr(RecordingClient, "request_permission", never_answer)
    async with acp_connection(mesh.gateway_ws_url(0), token, tmp_path) as first:
        monkeypatch.undo()
        session_id = await first.new(tmp_path)
        turn = asyncio.create_task(first.prompt(f"run [[script:{script}]]"))
        await asyncio.wait_for(asked.wait(), 30)
        last_seq = first.transport.last_seq
        turn.cancel()  # the editor drops while the approval is pending
    assert not (tmp_path / "approved.txt").exists()

    async with acp_connection(mesh.gateway_ws_url(1), token, tmp_path, allow=True) as second:
        await second.conn.load_session(
            cwd=str(tmp_path), session_id=session_id, codelab={"lastSeq": last_seq}
        )
        late = await asyncio.wait_for(second.client.late_responses.get(), 30)
        assert len(second.client.permission_requests) == 1
        assert "echo once" in str(second.client.permission_requests[0].raw_input)
    response = late.get("response", late)
    assert response["result"]["stopReason"] == "end_turn"
    assert (tmp_path / "approved.txt").read_text() == "once\n"
