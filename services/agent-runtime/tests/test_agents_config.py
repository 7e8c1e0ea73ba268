"""Custom agents from a TOML file, Debug's configurable edits, and the per-turn limits."""

from __future__ import annotations

from pathlib import Path

import pytest
from runtime_helpers import EditorClient, make_replica

from codelab_common.sessions import MemorySessionChannel
from codelab_runtime.agents.custom import load_agents
from codelab_runtime.agents.specs import ToolGroup, default_agents
from codelab_runtime.errors import AgentConfigError
from codelab_runtime.persistence.store import SessionStore
from codelab_runtime.runtime_deps import Prices
from codelab_runtime.testing import ScriptedResponse, ScriptedToolCall

REVIEWER = """
[[agents]]
mode_id = "reviewer"
name = "Reviewer"
description = "Reviews changes; writes review notes only."
instructions_file = "reviewer.md"
tool_groups = ["read", "edit"]
file_patterns = ["reviews/*.md"]
may_switch_to = ["coder"]
"""


def call(name: str, **arguments: object) -> ScriptedToolCall:
    return ScriptedToolCall(name, dict(arguments))


def test_custom_agent_file_adds_a_validated_mode(tmp_path: Path) -> None:
    (tmp_path / "reviewer.md").write_text("You review code.")
    (tmp_path / "agents.toml").write_text(REVIEWER)
    agents = load_agents(tmp_path / "agents.toml", default_agents())
    reviewer = agents["reviewer"]
    assert list(agents)[-1] == "reviewer"
    assert reviewer.instructions == "You review code."
    assert reviewer.tool_groups == {ToolGroup.READ, ToolGroup.EDIT}
    assert reviewer.may_edit("reviews/pr-1.md")
    assert not reviewer.may_edit("src/app.py")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (REVIEWER.replace('"edit"]', '"delete"]'), "tool_groups"),
        (REVIEWER.replace('["coder"]', '["wizard"]'), "unknown ['wizard']"),
        (REVIEWER.replace('instructions_file = "reviewer.md"', ""), "exactly one"),
        (REVIEWER.replace("reviewer.md", "missing.md"), "missing.md"),
        (REVIEWER + REVIEWER, "declared twice"),
        ("[[agents]]\nmode_id = 'Bad Id'", "mode_id"),
    ],
)
def test_invalid_agent_files_stop_start_up(tmp_path: Path, body: str, message: str) -> None:
    (tmp_path / "reviewer.md").write_text("You review code.")
    (tmp_path / "agents.toml").write_text(body)
    with pytest.raises(AgentConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_agents(tmp_path / "agents.toml", default_agents())


async def test_custom_mode_is_offered_and_restricted_like_the_built_ins(
    channel: MemorySessionChannel, store: SessionStore, client: EditorClient, tmp_path: Path
) -> None:
    (tmp_path / "reviewer.md").write_text("You review code.")
    (tmp_path / "agents.toml").write_text(REVIEWER)
    agents = load_agents(tmp_path / "agents.toml", default_agents())
    replica = make_replica(channel, store, "rt-a", agents=agents)
    replica.supervisor.start()
    try:
        replica.model.add(
            ScriptedResponse(
                tool_calls=[
                    call("write_file", path="app.py", content="x"),
                    call("switch_mode", mode="ask"),
                ]
            ),
            ScriptedResponse(text=["reviewed"]),
        )
        created = await client.new_session()
        modes = [m["id"] for m in created["result"]["modes"]["availableModes"]]
        assert modes[-1] == "reviewer"
        rid = await client.send(
            "session/set_mode", {"sessionId": client.session_id, "modeId": "reviewer"}
        )
        await client.wait_response(rid)
        await client.wait_response(await client.prompt("review"))
        results = [m["content"] for m in replica.model.requests[-1].messages if m["role"] == "tool"]
        assert "may only write files matching: reviews/*.md" in results[0]
        assert "cannot hand to 'ask'" in results[1]
        assert replica.model.requests[0].messages[0]["content"].startswith("You review code.")
    finally:
        await replica.supervisor.stop()


async def test_debug_edits_only_when_configured(
    channel: MemorySessionChannel, store: SessionStore, client: EditorClient, workspace: Path
) -> None:
    agents = default_agents(debug_may_edit=True)
    replica = make_replica(channel, store, "rt-a", agents=agents)
    replica.supervisor.start()
    try:
        replica.model.add(
            ScriptedResponse(tool_calls=[call("switch_mode", mode="debug")]),
            ScriptedResponse(
                tool_calls=[call("edit_file", path="app.py", old_text="a - b", new_text="a + b")]
            ),
            ScriptedResponse(text=["fixed while debugging"]),
        )
        await client.new_session()
        await client.wait_response(await client.prompt("debug and fix"))
        assert "return a + b" in (workspace / "app.py").read_text()
        assert ToolGroup.EDIT not in default_agents()["debug"].tool_groups
    finally:
        await replica.supervisor.stop()


async def test_tool_call_limit_ends_the_turn(
    channel: MemorySessionChannel, store: SessionStore, client: EditorClient
) -> None:
    replica = make_replica(channel, store, "rt-a", max_tool_calls=3)
    replica.supervisor.start()
    try:
        plan = call("update_plan", entries=[{"content": "step"}])
        replica.model.add(*[ScriptedResponse(tool_calls=[plan, plan]) for _ in range(3)])
        await client.new_session()
        response = await client.wait_response(await client.prompt("loop"))
        assert response["result"]["stopReason"] == "max_turn_requests"
        assert "Stopped after 4 tool calls" in client.texts()[-1]
        assert len(replica.model.requests) == 2
    finally:
        await replica.supervisor.stop()


async def test_cost_limit_ends_the_turn_and_counts_subtasks(
    channel: MemorySessionChannel, store: SessionStore, client: EditorClient
) -> None:
    # The scripted model reports 10 prompt + 5 completion tokens per call: $0.01 a call here.
    prices = Prices(input_usd_per_mtok=1000.0, max_cost_usd_per_turn=0.02)
    replica = make_replica(channel, store, "rt-a", prices=prices)
    replica.supervisor.start()
    try:
        replica.model.add(
            ScriptedResponse(tool_calls=[call("new_task", mode="ask", instructions="look")]),
            ScriptedResponse(tool_calls=[call("attempt_completion", result="looked")]),
        )
        await client.new_session()
        response = await client.wait_response(await client.prompt("spend"))
        assert response["result"]["stopReason"] == "max_turn_requests"
        assert "Stopped: this turn cost $0.0200 (the limit is $0.02)" in client.texts()[-1]
        usage = client.of_kind("usage_update")[-1]["_meta"]["codelab"]
        assert usage["turnPromptTokens"] == 20  # the subtask's call is counted too
        assert usage["turnCostUsd"] == pytest.approx(0.02)
        assert replica.model.remaining == 0
    finally:
        await replica.supervisor.stop()


async def test_the_cost_the_proxy_reports_counts_without_configured_prices(
    channel: MemorySessionChannel, store: SessionStore, client: EditorClient
) -> None:
    # No prices here: only the llm-proxy's reported cost ($0.015 a call) can stop the turn.
    replica = make_replica(channel, store, "rt-a", prices=Prices(max_cost_usd_per_turn=0.03))
    replica.supervisor.start()
    try:
        plan = call("update_plan", entries=[{"content": "step"}])
        replica.model.add(*[ScriptedResponse(tool_calls=[plan], cost_usd=0.015) for _ in range(3)])
        await client.new_session()
        response = await client.wait_response(await client.prompt("spend"))
        assert response["result"]["stopReason"] == "max_turn_requests"
        assert "Stopped: this turn cost $0.0300 (the limit is $0.03)" in client.texts()[-1]
        usage = client.of_kind("usage_update")[-1]["_meta"]["codelab"]
        assert usage["turnCostUsd"] == pytest.approx(0.03)
        assert replica.model.remaining == 1
    finally:
        await replica.supervisor.stop()
