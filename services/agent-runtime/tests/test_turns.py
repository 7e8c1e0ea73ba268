"""Prompt turns driven through the session channel, with the test playing the editor."""

from __future__ import annotations

from pathlib import Path

from runtime_helpers import EditorClient, Replica

from codelab_common import events as ev
from codelab_runtime.testing import ScriptedResponse, ScriptedToolCall


def call(name: str, **arguments: object) -> ScriptedToolCall:
    return ScriptedToolCall(name, dict(arguments))


async def test_new_session_returns_the_gateway_id_and_modes(
    replica: Replica, client: EditorClient
) -> None:
    response = await client.new_session()
    result = response["result"]
    assert result["sessionId"] == client.session_id
    assert result["modes"]["currentModeId"] == "orchestrator"
    ids = [m["id"] for m in result["modes"]["availableModes"]]
    assert ids == ["orchestrator", "coder", "architect", "debug", "ask"]
    assert any(isinstance(e, ev.SessionCreated) for e in replica.events)


async def test_new_session_without_gateway_id_is_invalid_params(
    replica: Replica, client: EditorClient
) -> None:
    rid = await client.send("session/new", {"cwd": str(client.workspace), "mcpServers": []})
    response = await client.wait_response(rid)
    assert response["error"]["code"] == -32602


async def test_route_debug_read_denied_write_switch_coder_write(
    replica: Replica, client: EditorClient, workspace: Path
) -> None:
    replica.model.add(
        ScriptedResponse(tool_calls=[call("switch_mode", mode="debug", reason="a bug")]),
        ScriptedResponse(tool_calls=[call("read_file", path="app.py")]),
        ScriptedResponse(
            tool_calls=[call("write_file", path="app.py", content="fixed")], text=["Found it."]
        ),
        ScriptedResponse(tool_calls=[call("switch_mode", mode="coder", reason="needs a fix")]),
        ScriptedResponse(
            tool_calls=[
                call("write_file", path="app.py", content="def add(a, b):\n    return a + b\n")
            ]
        ),
        ScriptedResponse(text=["Fixed ", "the bug."]),
    )
    await client.new_session()
    rid = await client.prompt("add() is broken")
    response = await client.wait_response(rid)

    assert response["result"] == {"stopReason": "end_turn"}
    modes = [u["currentModeId"] for u in client.of_kind("current_mode_update")]
    assert modes == ["debug", "coder"]
    assert (workspace / "app.py").read_text() == "def add(a, b):\n    return a + b\n"
    methods = [r["method"] for r in client.agent_requests]
    assert methods == ["fs/read_text_file", "session/request_permission", "fs/write_text_file"]
    assert all(r["id"].startswith("rt:") for r in client.agent_requests)
    # The debug agent's write was refused with a tool error the model saw, not a crash.
    fourth_call = replica.model.requests[3]
    tool_results = [m["content"] for m in fourth_call.messages if m["role"] == "tool"]
    assert any("debug agent may not use write_file" in t for t in tool_results)
    assert "return a - b" in tool_results[1]  # the read went through the client
    rejected = [e for e in replica.events if isinstance(e, ev.ToolRejected)]
    assert [(e.tool, e.reason) for e in rejected] == [("write_file", "not_allowed")]
    # The debug agent was offered no write tool and different instructions.
    debug_tools = {t["function"]["name"] for t in replica.model.requests[1].tools}
    assert debug_tools == {
        *("read_file", "list_files", "search_files", "execute_command", "switch_mode"),
        *("git_status", "git_diff", "git_log", "git_branch", "new_task"),
        *("update_plan", "ask_followup_question", "attempt_completion"),
    }
    assert "debugger" in replica.model.requests[1].messages[0]["content"]
    orchestrator_tools = {t["function"]["name"] for t in replica.model.requests[0].tools}
    assert orchestrator_tools == {
        *("switch_mode", "new_task", "update_plan", "ask_followup_question"),
        "attempt_completion",
    }
    # Every tool call was reported, and ended completed or failed.
    starts = client.of_kind("tool_call")
    assert [s["kind"] for s in starts] == ["switch_mode", "read", "edit", "switch_mode", "edit"]
    finals = [
        u["status"] for u in client.of_kind("tool_call_update") if u.get("status") != "in_progress"
    ]
    assert finals == ["completed", "completed", "failed", "completed", "completed"]
    assert client.texts()[-2:] == ["Fixed ", "the bug."]


async def test_rejected_permission_means_no_write_and_the_model_is_told(
    replica: Replica, client: EditorClient, workspace: Path
) -> None:
    client.permission = lambda _req: "reject_once"
    replica.model.add(
        ScriptedResponse(tool_calls=[call("switch_mode", mode="coder", reason="edit")]),
        ScriptedResponse(tool_calls=[call("write_file", path="new.txt", content="x")]),
        ScriptedResponse(text=["OK, I will not write it."]),
    )
    await client.new_session()
    response = await client.wait_response(await client.prompt("write new.txt"))
    assert response["result"]["stopReason"] == "end_turn"
    assert not (workspace / "new.txt").exists()
    assert "fs/write_text_file" not in [r["method"] for r in client.agent_requests]
    last = replica.model.requests[-1].messages[-1]
    assert last["role"] == "tool"
    assert "user rejected" in last["content"]
    assert any(isinstance(e, ev.ToolRejected) and e.reason == "user" for e in replica.events)


async def test_text_deltas_arrive_as_separate_chunks_before_the_turn_ends(
    replica: Replica, client: EditorClient
) -> None:
    replica.model.add(ScriptedResponse(text=["Hel", "lo ", "there"], delay_s=0.2))
    await client.new_session()
    rid = await client.prompt("hi")
    await client.wait_for(lambda: len(client.texts()) >= 1)
    assert rid not in client.responses  # the first chunk came long before the answer
    await client.wait_response(rid)
    assert client.texts() == ["Hel", "lo ", "there"]


async def test_cancel_while_waiting_on_the_model(replica: Replica, client: EditorClient) -> None:
    replica.model.add(ScriptedResponse(text=["thinking", "more", "and more"], delay_s=1.0))
    await client.new_session()
    rid = await client.prompt("long task")
    await client.wait_for(lambda: len(client.texts()) >= 1, within=5)
    await client.notify("session/cancel", {"sessionId": client.session_id})
    response = await client.wait_response(rid, within=1.5)
    assert response["result"]["stopReason"] == "cancelled"
    assert any(isinstance(e, ev.TaskCancelled) for e in replica.events)


async def test_cancel_while_waiting_on_a_permission(replica: Replica, client: EditorClient) -> None:
    client.answer_requests = False
    replica.model.add(
        ScriptedResponse(tool_calls=[call("switch_mode", mode="coder", reason="edit")]),
        ScriptedResponse(tool_calls=[call("run_command", command="true")]),
    )
    await client.new_session()
    rid = await client.prompt("run it")
    await client.wait_for(lambda: bool(client.agent_requests))
    await client.notify("session/cancel", {"sessionId": client.session_id})
    response = await client.wait_response(rid, within=2)
    assert response["result"]["stopReason"] == "cancelled"
    # The next turn starts from a valid history (the open tool call was closed).
    replica.model.add(ScriptedResponse(text=["ok"]))
    response = await client.wait_response(await client.prompt("again"))
    assert response["result"]["stopReason"] == "end_turn"
    tool_msgs = [m for m in replica.model.requests[-1].messages if m["role"] == "tool"]
    assert tool_msgs[-1]["content"] == "Cancelled by the user."


async def test_max_model_calls_stops_with_max_turn_requests(
    replica: Replica, client: EditorClient
) -> None:
    loop_forever = ScriptedResponse(tool_calls=[call("switch_mode", mode="ask", reason="x")])
    back = ScriptedResponse(tool_calls=[call("switch_mode", mode="orchestrator", reason="y")])
    replica.model.add(*([loop_forever, back] * 5))
    await client.new_session()
    response = await client.wait_response(await client.prompt("spin"))
    assert response["result"]["stopReason"] == "max_turn_requests"
    assert len(replica.model.requests) == 10


async def test_model_failure_is_reported_to_the_client(
    replica: Replica, client: EditorClient
) -> None:
    replica.model.add(ScriptedResponse(error=RuntimeError("proxy down")))
    await client.new_session()
    response = await client.wait_response(await client.prompt("hi"))
    assert response["result"]["stopReason"] == "end_turn"
    assert "proxy down" in client.texts()[-1]
    assert any(isinstance(e, ev.LlmCallFailed) for e in replica.events)


async def test_refusal_stops_with_refusal(replica: Replica, client: EditorClient) -> None:
    replica.model.add(ScriptedResponse(finish_reason="content_filter"))
    await client.new_session()
    response = await client.wait_response(await client.prompt("bad"))
    assert response["result"]["stopReason"] == "refusal"
    assert "declined" in client.texts()[-1]


async def test_set_mode_by_user_sends_current_mode_update(
    replica: Replica, client: EditorClient
) -> None:
    await client.new_session()
    rid = await client.send("session/set_mode", {"sessionId": client.session_id, "modeId": "ask"})
    assert "result" in await client.wait_response(rid)
    assert client.of_kind("current_mode_update")[-1]["currentModeId"] == "ask"
    rid = await client.send("session/set_mode", {"sessionId": client.session_id, "modeId": "zzz"})
    assert (await client.wait_response(rid))["error"]["code"] == -32602
