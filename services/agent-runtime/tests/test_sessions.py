"""Ownership, takeover, duplicate answers and persistence across replicas."""

from __future__ import annotations

import asyncio
from pathlib import Path

from runtime_helpers import EditorClient, Replica, make_replica

from codelab_common import events as ev
from codelab_common.sessions import MemorySessionChannel
from codelab_runtime.persistence.store import SessionStore
from codelab_runtime.testing import ScriptedResponse, ScriptedToolCall


async def test_duplicate_permission_answer_is_applied_once(
    replica: Replica, client: EditorClient, workspace: Path
) -> None:
    client.answer_requests = False
    replica.model.add(
        ScriptedResponse(tool_calls=[ScriptedToolCall("switch_mode", {"mode": "coder"})]),
        ScriptedResponse(tool_calls=[ScriptedToolCall("run_command", {"command": "echo hi"})]),
        ScriptedResponse(text=["done"]),
    )
    await client.new_session()
    rid = await client.prompt("say hi")
    await client.wait_for(lambda: bool(client.agent_requests))
    permission = client.agent_requests[0]
    assert permission["method"] == "session/request_permission"
    await client.answer(permission)
    await client.answer(permission)  # the client answered twice (e.g. after a reconnect)
    client.answer_requests = True
    for request in client.agent_requests[1:]:
        await client.answer(request)
    response = await client.wait_response(rid)
    assert response["result"]["stopReason"] == "end_turn"
    resolved = [e for e in replica.events if isinstance(e, ev.ApprovalResolved)]
    assert len(resolved) == 1
    creates = [r for r in client.agent_requests if r["method"] == "terminal/create"]
    assert len(creates) == 1
    assert "Exit code: 0\nhi" in replica.model.requests[-1].messages[-1]["content"]


async def test_load_session_resends_unanswered_requests(
    replica: Replica, client: EditorClient
) -> None:
    client.answer_requests = False
    replica.model.add(
        ScriptedResponse(tool_calls=[ScriptedToolCall("switch_mode", {"mode": "coder"})]),
        ScriptedResponse(tool_calls=[ScriptedToolCall("write_file", {"path": "a", "content": ""})]),
    )
    await client.new_session()
    await client.prompt("write")
    await client.wait_for(lambda: bool(client.agent_requests))
    first = client.agent_requests[0]
    rid = await client.send(
        "session/load",
        {"sessionId": client.session_id, "cwd": str(client.workspace), "mcpServers": []},
    )
    response = await client.wait_response(rid)
    assert response["result"]["modes"]["currentModeId"] == "coder"
    await client.wait_for(lambda: len(client.agent_requests) == 2)
    assert client.agent_requests[1] == first


async def test_messages_are_persisted(
    replica: Replica, client: EditorClient, store: SessionStore
) -> None:
    replica.model.add(
        ScriptedResponse(tool_calls=[ScriptedToolCall("switch_mode", {"mode": "ask"})]),
        ScriptedResponse(text=["It adds."]),
    )
    await client.new_session()
    await client.wait_response(await client.prompt("what does add do?"))
    rows = await store.messages(client.session_id)
    assert [(r.role, r.agent_mode) for r in rows] == [
        ("user", ""),
        ("assistant", "orchestrator"),
        ("tool", "orchestrator"),
        ("assistant", "ask"),
    ]
    assert rows[0].content == {"role": "user", "content": "what does add do?"}
    assert rows[1].content["tool_calls"][0]["function"]["name"] == "switch_mode"
    assert len({r.correlation_id for r in rows}) == 1
    state = await store.load(client.session_id)
    assert state is not None
    assert state.mode == "ask"
    assert state.owner == "user-1"


async def test_second_replica_waits_for_the_lease_then_takes_over(
    channel: MemorySessionChannel, store: SessionStore, client: EditorClient, workspace: Path
) -> None:
    first = make_replica(channel, store, "rt-a")
    second = make_replica(channel, store, "rt-b")
    first.supervisor.start()
    await client.new_session()
    assert await channel.lease_owner(client.session_id) == "rt-a"
    second.supervisor.start()
    try:
        # While rt-a owns the session, rt-b does not process it even when it gets the wakeup.
        client.answer_requests = False
        first.model.add(
            ScriptedResponse(tool_calls=[ScriptedToolCall("switch_mode", {"mode": "coder"})]),
            ScriptedResponse(tool_calls=[ScriptedToolCall("run_command", {"command": "true"})]),
        )
        rid = await client.prompt("run true")
        await client.wait_for(lambda: bool(client.agent_requests))
        stale = client.agent_requests[0]
        assert client.session_id not in second.supervisor.owned_sessions
        assert second.model.requests == []

        # rt-a stops mid-turn: the prompt is still unacked, so rt-b claims and resumes it.
        await first.supervisor.stop()
        client.answer_requests = True
        second.model.add(
            ScriptedResponse(text=["Resumed in ", "coder mode."]),
        )
        await client.answer(stale)  # an answer meant for rt-a: dropped, but it wakes rt-b
        response = await client.wait_response(rid)
        assert response["result"]["stopReason"] == "end_turn"
        assert await channel.lease_owner(client.session_id) == "rt-b"
        resumed = [e for e in second.events if isinstance(e, ev.SessionResumed)]
        assert resumed
        assert resumed[0].mode == "coder"
        # The approval that was pending is asked again (a new request id), and the
        # command runs once; the model continues from the durable history.
        permissions = [
            r for r in client.agent_requests if r["method"] == "session/request_permission"
        ]
        assert len(permissions) == 2
        assert permissions[0]["id"] != permissions[1]["id"]
        creates = [r for r in client.agent_requests if r["method"] == "terminal/create"]
        assert len(creates) == 1
        seen = second.model.requests[0].messages
        assert [m["role"] for m in seen] == [
            "system",
            "user",
            "assistant",
            "tool",
            "assistant",
            "tool",
        ]
        assert "coder" in seen[0]["content"]
        assert seen[-1]["content"].startswith("Exit code: 0")
        rows = await store.messages(client.session_id)
        assert [r.role for r in rows] == [
            "user",
            "assistant",
            "tool",
            "assistant",
            "tool",
            "assistant",
        ]
    finally:
        await second.supervisor.stop()
        await first.supervisor.stop()


async def test_idle_session_is_released_and_picked_up_again(
    channel: MemorySessionChannel, store: SessionStore, client: EditorClient
) -> None:
    rep = make_replica(channel, store, "rt-a", idle_release_s=0.3)
    rep.supervisor.start()
    try:
        await client.new_session()
        for _ in range(50):
            if await channel.lease_owner(client.session_id) is None:
                break
            await asyncio.sleep(0.05)
        assert await channel.lease_owner(client.session_id) is None
        rep.model.add(ScriptedResponse(text=["back"]))
        response = await client.wait_response(await client.prompt("hello again"))
        assert response["result"]["stopReason"] == "end_turn"
        assert any(isinstance(e, ev.SessionResumed) for e in rep.events)
    finally:
        await rep.supervisor.stop()


async def test_a_call_that_may_have_run_is_not_repeated_after_a_takeover(
    channel: MemorySessionChannel, store: SessionStore, client: EditorClient
) -> None:
    first = make_replica(channel, store, "rt-a")
    first.supervisor.start()
    client.answer_requests = False
    first.model.add(
        ScriptedResponse(tool_calls=[ScriptedToolCall("switch_mode", {"mode": "coder"})]),
        ScriptedResponse(tool_calls=[ScriptedToolCall("execute_command", {"command": "true"})]),
    )
    await client.new_session()
    rid = await client.prompt("run it")
    await client.wait_for(lambda: bool(client.agent_requests))
    await client.answer(client.agent_requests[0])  # approved: the command may now run
    await client.wait_for(lambda: len(client.agent_requests) == 2)
    assert client.agent_requests[1]["method"] == "terminal/create"
    await first.supervisor.stop()  # dies before the client says whether it ran

    second = make_replica(channel, store, "rt-b")
    second.model.add(ScriptedResponse(text=["I will check first."]))
    second.supervisor.start()
    try:
        client.answer_requests = True
        await client.answer(client.agent_requests[1])  # stale: dropped, wakes rt-b
        response = await client.wait_response(rid)
        assert response["result"]["stopReason"] == "end_turn"
        creates = [r for r in client.agent_requests if r["method"] == "terminal/create"]
        assert len(creates) == 1
        assert (
            "Interrupted by a runtime restart" in second.model.requests[0].messages[-1]["content"]
        )
    finally:
        await second.supervisor.stop()
        await first.supervisor.stop()
