"""The ACP relay over real sockets and real Redis, with a scripted runtime double."""

from __future__ import annotations

import acp

from codelab_common.sessions import RedisSessionChannel
from codelab_gateway.app import create_app
from codelab_gateway.settings import GatewaySettings

from .conftest import Connect, ScriptedRuntime, serve

CWD = "/home/dev/project"


def seq_of(container: dict) -> int:
    return int(container["_meta"]["codelab"]["seq"])


async def test_initialize_answers_without_the_runtime(gateway: str, connect: Connect) -> None:
    async with connect(gateway) as client:
        await client.request(0, "initialize", {"protocolVersion": acp.PROTOCOL_VERSION})
        result = (await client.recv())["result"]
        assert result["protocolVersion"] == acp.PROTOCOL_VERSION
        assert result["agentCapabilities"]["loadSession"] is True
        assert result["agentCapabilities"]["promptCapabilities"] == {
            "image": False,
            "audio": False,
            "embeddedContext": True,
        }
        assert result["agentInfo"]["name"] == "codelab"
        assert result["authMethods"] == []
        assert result["_meta"]["codelab"]["connectionId"].startswith("c_")
        assert "notice" not in result["_meta"]["codelab"]  # only when configured
        await client.request("again", "initialize", {"protocolVersion": 0})
        assert (await client.recv())["result"]["protocolVersion"] == 0


async def test_session_new_round_trip_restores_the_client_id(
    gateway: str, connect: Connect, runtime: ScriptedRuntime, channel: RedisSessionChannel
) -> None:
    async with connect(gateway, sub="alice") as client:
        await client.request(7, "session/new", {"cwd": CWD, "mcpServers": []})
        response = await client.response(7)
    session_id = response["result"]["sessionId"]
    assert session_id.startswith("sess_")
    assert response["result"]["modes"]["currentModeId"] == "orchestrator"
    assert seq_of(response["result"]) == 1
    posted = runtime.inputs[0][1]
    assert posted.message["id"].endswith(":7")
    assert posted.message["params"]["_meta"]["codelab"]["sessionId"] == session_id
    assert posted.sub == "alice"
    record = await channel.get_session(session_id)
    assert record is not None
    assert (record.owner, record.cwd) == ("alice", CWD)


async def test_agent_request_is_answered_into_the_right_session(
    gateway: str, connect: Connect, runtime: ScriptedRuntime
) -> None:
    async with connect(gateway) as client:
        await client.request(1, "session/new", {"cwd": CWD, "mcpServers": []})
        first = (await client.response(1))["result"]["sessionId"]
        await client.request(2, "session/new", {"cwd": CWD, "mcpServers": []})
        second = (await client.response(2))["result"]["sessionId"]
        prompt = [{"type": "text", "text": "read /etc/motd"}]
        await client.request(3, "session/prompt", {"sessionId": second, "prompt": prompt})
        ask = await client.recv()
        assert ask["method"] == "fs/read_text_file"
        assert ask["params"]["path"] == "/etc/motd"
        assert seq_of(ask["params"]) == 2
        await client.send({"jsonrpc": "2.0", "id": ask["id"], "result": {"content": "hi"}})
        messages = await client.until(lambda m: m.get("id") == 3)
    assert messages[0]["params"]["update"]["content"]["text"] == "file says: hi"
    assert messages[-1]["result"]["stopReason"] == "end_turn"
    answers = [(sid, e.message) for sid, e in runtime.inputs if "method" not in e.message]
    assert answers == [(second, {"jsonrpc": "2.0", "id": ask["id"], "result": {"content": "hi"}})]
    assert first != second


async def test_unknown_client_response_is_dropped(
    gateway: str, connect: Connect, runtime: ScriptedRuntime
) -> None:
    async with connect(gateway) as client:
        await client.send({"jsonrpc": "2.0", "id": "rt:9:9", "result": {}})
        await client.request(1, "authenticate", {})
        assert (await client.recv())["id"] == 1
    assert runtime.inputs == []


async def test_other_users_cannot_load_or_prompt_a_session(
    gateway: str, connect: Connect, runtime: ScriptedRuntime
) -> None:
    async with connect(gateway, sub="alice") as alice:
        await alice.request(1, "session/new", {"cwd": CWD, "mcpServers": []})
        session_id = (await alice.response(1))["result"]["sessionId"]
    posted = len(runtime.inputs)
    async with connect(gateway, sub="bob") as bob:
        await bob.request(1, "session/load", {"sessionId": session_id, "cwd": CWD})
        assert (await bob.recv())["error"]["code"] == -32003
        prompt = [{"type": "text", "text": "hi"}]
        await bob.request(2, "session/prompt", {"sessionId": session_id, "prompt": prompt})
        assert (await bob.recv())["error"]["code"] == -32003
        await bob.request(3, "session/load", {"sessionId": "sess_nope", "cwd": CWD})
        assert (await bob.recv())["error"]["code"] == -32004
    async with connect(gateway, sub="alice", scope="sessions:read") as viewer:
        await viewer.request(1, "session/prompt", {"sessionId": session_id, "prompt": prompt})
        assert (await viewer.recv())["error"]["code"] == -32003
    assert len(runtime.inputs) == posted


async def test_reconnect_replays_what_was_missed_then_goes_live(
    gateway: str, connect: Connect, runtime: ScriptedRuntime
) -> None:
    async with connect(gateway) as client:
        await client.request(1, "session/new", {"cwd": CWD, "mcpServers": []})
        session_id = (await client.response(1))["result"]["sessionId"]
        prompt = [{"type": "text", "text": "hi"}]
        await client.request(5, "session/prompt", {"sessionId": session_id, "prompt": prompt})
    # What happens while no client is connected: seq 2 update, seq 3 prompt response
    # (to the closed connection), seq 4 a permission request.
    await runtime.wait_for(lambda: len(runtime.inputs) == 2)
    await runtime.ask(session_id, "session/request_permission", {"sessionId": session_id})
    old_prompt_id = runtime.inputs[1][1].message["id"]

    async with connect(gateway) as client:
        load = {"sessionId": session_id, "cwd": CWD, "mcpServers": []}
        load["_meta"] = {"codelab": {"lastSeq": 1}}
        await client.request("load", "session/load", load)
        replayed = await client.until(lambda m: m.get("id") == "load")
        assert [m.get("method") for m in replayed] == [
            "session/update",
            "_codelab/response",
            None,
        ]
        update, late, loaded = replayed
        assert seq_of(update["params"]) == 2
        assert late["params"]["sessionId"] == session_id
        assert late["params"]["response"]["id"] == old_prompt_id
        assert late["params"]["response"]["result"] == {"stopReason": "end_turn"}
        assert seq_of(late["params"]) == 3
        assert seq_of(loaded["result"]) == 5
        await runtime.say(session_id, "live")
        live = await client.recv()
    assert live["params"]["update"]["content"]["text"] == "live"
    assert seq_of(live["params"]) == 6


async def test_bad_frames_get_errors_and_nothing_is_posted(
    gateway: str, connect: Connect, runtime: ScriptedRuntime
) -> None:
    async with connect(gateway) as client:
        await client.ws.send("{not json")
        assert (await client.recv())["error"]["code"] == -32700
        await client.ws.send("[1, 2]")
        error = await client.recv()
        assert (error["id"], error["error"]["code"]) == (None, -32600)
        await client.request(1, "no/such_method", {})
        assert (await client.recv())["error"]["code"] == -32601
        await client.request(2, "session/new", {"cwd": "relative/path"})
        assert (await client.recv())["error"]["code"] == -32602
        await client.request(3, "authenticate", {})
        assert (await client.recv()) == {"jsonrpc": "2.0", "id": 3, "result": {}}
    assert runtime.inputs == []


async def test_binary_frame_closes_with_4400(gateway: str, connect: Connect) -> None:
    async with connect(gateway) as client:
        await client.ws.send(b'{"jsonrpc": "2.0"}')
        await client.ws.wait_closed()
    assert client.ws.close_code == 4400


async def test_oversized_frame_closes_with_4413(
    gateway: str, connect: Connect, runtime: ScriptedRuntime
) -> None:
    async with connect(gateway) as client:
        big = "x" * (65 * 1024)
        await client.request(1, "session/new", {"cwd": CWD, "pad": big})
        await client.ws.wait_closed()
    assert client.ws.close_code == 4413
    assert runtime.inputs == []


async def test_a_session_from_one_gateway_loads_on_another(
    gateway: str, settings: GatewaySettings, connect: Connect, runtime: ScriptedRuntime
) -> None:
    async with serve(create_app(settings)) as other:
        async with connect(gateway) as client:
            await client.request(1, "session/new", {"cwd": CWD, "mcpServers": []})
            session_id = (await client.response(1))["result"]["sessionId"]
        async with connect(other) as client:
            load = {"sessionId": session_id, "cwd": CWD, "mcpServers": []}
            await client.request(2, "session/load", load)
            replayed = await client.until(lambda m: m.get("id") == 2)
            await client.request(3, "session/set_mode", {"sessionId": session_id, "modeId": "ask"})
            assert (await client.response(3))["result"]["_meta"]["codelab"]["seq"] == 3
    # The session/new response was for a connection on the first gateway.
    assert replayed[0]["method"] == "_codelab/response"
    assert replayed[0]["params"]["response"]["result"]["sessionId"] == session_id
    assert replayed[1]["result"]["modes"]["currentModeId"] == "orchestrator"
