"""Plans reach the client and survive; subtasks return to their parent, even across a restart."""

from __future__ import annotations

from pathlib import Path

from runtime_helpers import EditorClient, Replica, make_replica

from codelab_common import events as ev
from codelab_common.sessions import MemorySessionChannel
from codelab_runtime.model.base import ChatRequest
from codelab_runtime.persistence.store import SessionStore
from codelab_runtime.testing import ScriptedResponse, ScriptedToolCall

PLAN = [
    {"content": "Find the bug", "priority": "high", "status": "completed"},
    {"content": "Fix add()", "priority": "medium", "status": "in_progress"},
]


def call(name: str, **arguments: object) -> ScriptedToolCall:
    return ScriptedToolCall(name, dict(arguments))


def load_params(client: EditorClient) -> dict[str, object]:
    return {"sessionId": client.session_id, "cwd": str(client.workspace), "mcpServers": []}


async def test_update_plan_is_sent_persisted_and_resent_on_load(
    channel: MemorySessionChannel, store: SessionStore, client: EditorClient
) -> None:
    first = make_replica(channel, store, "rt-a")
    first.supervisor.start()
    first.model.add(
        ScriptedResponse(tool_calls=[call("update_plan", entries=PLAN)]),
        ScriptedResponse(text=["planned"]),
    )
    await client.new_session()
    await client.wait_response(await client.prompt("plan it"))
    await first.supervisor.stop()
    plans = client.of_kind("plan")
    assert [e["content"] for e in plans[-1]["entries"]] == ["Find the bug", "Fix add()"]
    assert plans[-1]["entries"][1]["status"] == "in_progress"
    assert any(isinstance(e, ev.PlanUpdated) for e in first.events)
    state = await store.load(client.session_id)
    assert state is not None
    assert state.plan == PLAN

    # Another replica (after a restart) re-sends the stored plan to a reconnecting client.
    second = make_replica(channel, store, "rt-b")
    second.supervisor.start()
    try:
        client.updates.clear()
        await client.wait_response(await client.send("session/load", load_params(client)))
        await client.wait_for(lambda: bool(client.of_kind("plan")))
        assert client.of_kind("plan")[-1]["entries"] == plans[-1]["entries"]
    finally:
        await second.supervisor.stop()


async def test_subtask_runs_in_its_own_context_and_returns_to_the_parent(
    replica: Replica, client: EditorClient, workspace: Path, store: SessionStore
) -> None:
    def child_first(request: ChatRequest) -> ScriptedResponse:
        # The child sees its instructions only, as the coder, not the parent's conversation.
        assert [m["role"] for m in request.messages] == ["system", "user"]
        assert request.messages[1]["content"] == "Fix add() in app.py"
        assert request.agent == "coder"
        return ScriptedResponse(
            tool_calls=[call("edit_file", path="app.py", old_text="a - b", new_text="a + b")]
        )

    def parent_after(request: ChatRequest) -> ScriptedResponse:
        assert request.agent == "orchestrator"
        assert "Result:\nadd() fixed" in request.messages[-1]["content"]
        return ScriptedResponse(text=["The coder fixed it."])

    replica.model.add(
        ScriptedResponse(
            tool_calls=[call("new_task", mode="coder", instructions="Fix add() in app.py")]
        ),
        child_first,
        ScriptedResponse(tool_calls=[call("attempt_completion", result="add() fixed")]),
        parent_after,
    )
    await client.new_session()
    response = await client.wait_response(await client.prompt("fix add"))
    assert response["result"]["stopReason"] == "end_turn"
    assert "return a + b" in (workspace / "app.py").read_text()
    assert client.texts()[-1] == "The coder fixed it."
    assert client.of_kind("current_mode_update") == []  # the session stayed orchestrator
    (task,) = await store.tasks.of_session(client.session_id)
    assert (task.mode, task.status, task.result) == ("coder", "completed", "add() fixed")
    started = next(e for e in replica.events if isinstance(e, ev.SubtaskStarted))
    returned = next(e for e in replica.events if isinstance(e, ev.SubtaskReturned))
    assert started.task_id == returned.task_id == task.id
    assert started.parent_task_id == started.correlation_id
    # The session's own history does not contain the child's messages.
    state = await store.load(client.session_id)
    assert state is not None
    assert [h.message["role"] for h in state.history] == ["user", "assistant", "tool", "assistant"]


async def test_restart_mid_subtask_resumes_parent_without_rerunning_finished_subtasks(
    channel: MemorySessionChannel, store: SessionStore, client: EditorClient, workspace: Path
) -> None:
    first = make_replica(channel, store, "rt-a")
    first.supervisor.start()
    first.model.add(
        ScriptedResponse(tool_calls=[call("new_task", mode="ask", instructions="Explain add")]),
        ScriptedResponse(tool_calls=[call("attempt_completion", result="add subtracts")]),
        ScriptedResponse(tool_calls=[call("new_task", mode="coder", instructions="Run tests")]),
        ScriptedResponse(tool_calls=[call("execute_command", command="echo tests")]),
    )
    client.answer_requests = False
    await client.new_session()
    rid = await client.prompt("explain, then test")
    await client.wait_for(
        lambda: any(r["method"] == "session/request_permission" for r in client.agent_requests)
    )
    stale = client.agent_requests[-1]
    await first.supervisor.stop()  # the replica dies while the second subtask waits

    second = make_replica(channel, store, "rt-b")

    def resumed_child(request: ChatRequest) -> ScriptedResponse:
        assert request.agent == "coder"
        contents = [m.get("content") for m in request.messages]
        assert "Run tests" in contents
        # The command whose approval was pending was asked again, approved, and ran.
        assert contents[-1] == "Exit code: 0\ntests\n"
        return ScriptedResponse(tool_calls=[call("attempt_completion", result="tests pass")])

    def parent_after(request: ChatRequest) -> ScriptedResponse:
        tool_texts = [m["content"] for m in request.messages if m["role"] == "tool"]
        assert "add subtracts" in tool_texts[0]
        assert "tests pass" in tool_texts[1]
        return ScriptedResponse(text=["Both done."])

    second.model.add(resumed_child, parent_after)
    second.supervisor.start()
    try:
        client.answer_requests = True
        await client.answer(stale)  # meant for rt-a: dropped, but it wakes rt-b
        response = await client.wait_response(rid, within=10)
        assert response["result"]["stopReason"] == "end_turn"
        assert client.texts()[-1] == "Both done."
        # rt-b made exactly two model calls: the first subtask was never run again.
        assert len(second.model.requests) == 2
        assert second.model.remaining == 0
        tasks = await store.tasks.of_session(client.session_id)
        assert [(t.mode, t.status, t.result) for t in tasks] == [
            ("ask", "completed", "add subtracts"),
            ("coder", "completed", "tests pass"),
        ]
        asked = [r for r in client.agent_requests if r["method"] == "session/request_permission"]
        assert len(asked) == 2  # rt-a's (never answered) and rt-b's re-sent one
        resumed = [e for e in second.events if isinstance(e, ev.SubtaskStarted)]
        assert [(e.mode, e.resumed) for e in resumed] == [("coder", True)]
    finally:
        await second.supervisor.stop()
        await first.supervisor.stop()
