"""Approval policy: prefix rules, allow-always that survives a restart, edited arguments."""

from __future__ import annotations

from pathlib import Path

import pytest
from runtime_helpers import EditorClient, make_replica

from codelab_common import events as ev
from codelab_common.sessions import MemorySessionChannel
from codelab_runtime.persistence.store import SessionStore
from codelab_runtime.testing import ScriptedResponse, ScriptedToolCall
from codelab_runtime.tools.definitions import TOOLS
from codelab_runtime.tools.policy import ApprovalPolicy, Decision

POLICY = ApprovalPolicy(
    command_allow=("git", "rm", "echo"),
    command_deny=("git push", "rm -rf"),
    edit_allow=("docs/*.md",),
)


def commands(*lines: str) -> ScriptedResponse:
    return ScriptedResponse(
        tool_calls=[ScriptedToolCall("execute_command", {"command": c}) for c in lines]
    )


def to_coder() -> ScriptedResponse:
    return ScriptedResponse(tool_calls=[ScriptedToolCall("switch_mode", {"mode": "coder"})])


@pytest.mark.parametrize(
    ("command", "decision"),
    [
        ("git status", Decision.ALLOW),
        ("git  push origin main", Decision.DENY),  # whitespace does not dodge a rule
        ("git pushy", Decision.ALLOW),  # prefixes match whole words
        ("rm a.txt", Decision.ALLOW),
        ("rm -rf /", Decision.DENY),
        ("gitk", Decision.ASK),
        ("make test", Decision.ASK),
    ],
)
def test_longest_matching_prefix_wins(command: str, decision: Decision) -> None:
    tool = TOOLS["execute_command"]
    assert POLICY.decide(tool, {"command": command}, None) is decision


def test_reads_never_ask_and_edits_follow_path_rules() -> None:
    assert POLICY.decide(TOOLS["read_file"], {"path": "x.py"}, "x.py") is Decision.ALLOW
    assert POLICY.decide(TOOLS["write_file"], {}, "docs/a.md") is Decision.ALLOW
    assert POLICY.decide(TOOLS["write_file"], {}, "src/a.py") is Decision.ASK


async def test_policy_allows_denies_and_asks_by_prefix(
    channel: MemorySessionChannel, store: SessionStore, client: EditorClient
) -> None:
    replica = make_replica(channel, store, "rt-a", policy=POLICY)
    replica.supervisor.start()
    try:
        replica.model.add(
            to_coder(),
            commands("echo allowed", "rm -rf /tmp/nothing", "ls"),
            ScriptedResponse(text=["done"]),
        )
        await client.new_session()
        await client.wait_response(await client.prompt("go"))
        results = [m["content"] for m in replica.model.requests[-1].messages if m["role"] == "tool"]
        assert results[1] == "Exit code: 0\nallowed\n"
        assert "policy denies" in results[2]
        assert results[3].startswith("Exit code: 0")
        asked = [r for r in client.agent_requests if r["method"] == "session/request_permission"]
        assert [a["params"]["toolCall"]["rawInput"]["command"] for a in asked] == ["ls"]
        approved = [e.by for e in replica.events if isinstance(e, ev.ToolApproved)]
        assert approved == ["policy", "user"]
    finally:
        await replica.supervisor.stop()


async def test_allow_always_is_session_scoped_and_survives_a_restart(
    channel: MemorySessionChannel, store: SessionStore, client: EditorClient, workspace: Path
) -> None:
    client.permission = lambda _req: "allow_always"
    first = make_replica(channel, store, "rt-a")
    first.supervisor.start()
    first.model.add(to_coder(), commands("echo 1", "echo 2", "ls"), ScriptedResponse(text=["ok"]))
    await client.new_session()
    await client.wait_response(await client.prompt("go"))
    await first.supervisor.stop()
    asked = [r for r in client.agent_requests if r["method"] == "session/request_permission"]
    assert [a["params"]["toolCall"]["rawInput"]["command"] for a in asked] == ["echo 1", "ls"]
    state = await store.load(client.session_id)
    assert state is not None
    assert state.always_allowed == {"execute_command:echo", "execute_command:ls"}

    second = make_replica(channel, store, "rt-b")
    second.supervisor.start()
    try:
        client.permission = lambda _req: "reject_once"
        second.model.add(commands("echo 3"), ScriptedResponse(text=["ok"]))
        await client.wait_response(await client.prompt("again"))
        last = second.model.requests[-1].messages[-1]["content"]
        assert last == "Exit code: 0\n3\n"
        by = [e.by for e in second.events if isinstance(e, ev.ToolApproved)]
        assert by == ["allowlist"]
    finally:
        await second.supervisor.stop()


async def test_user_may_edit_the_arguments_before_approving(
    channel: MemorySessionChannel, store: SessionStore, client: EditorClient
) -> None:
    replica = make_replica(channel, store, "rt-a", policy=POLICY)
    replica.supervisor.start()
    client.answer_requests = False
    try:
        replica.model.add(to_coder(), commands("make deploy"), ScriptedResponse(text=["ok"]))
        await client.new_session()
        rid = await client.prompt("deploy")
        await client.wait_for(lambda: bool(client.agent_requests))
        permission = client.agent_requests[0]
        edited = {"command": "echo dry-run"}
        await client.answer(
            permission,
            {
                "outcome": {"outcome": "selected", "optionId": "allow_once"},
                "_meta": {"codelab": {"editedArguments": edited}},
            },
        )
        await client.answer(permission, {"outcome": {"outcome": "cancelled"}})  # applied once
        client.answer_requests = True
        for request in client.agent_requests[1:]:
            await client.answer(request)
        await client.wait_response(rid)
        result = replica.model.requests[-1].messages[-1]["content"]
        assert "The user edited the arguments" in result
        assert result.endswith("Exit code: 0\ndry-run\n")
        creates = [r for r in client.agent_requests if r["method"] == "terminal/create"]
        assert [c["params"]["args"] for c in creates] == [["-c", "echo dry-run"]]
        resolved = [e for e in replica.events if isinstance(e, ev.ApprovalResolved)]
        assert [r.outcome for r in resolved] == ["edited"]
    finally:
        await replica.supervisor.stop()


async def test_edited_arguments_are_checked_against_the_policy_again(
    channel: MemorySessionChannel, store: SessionStore, client: EditorClient
) -> None:
    replica = make_replica(channel, store, "rt-a", policy=POLICY)
    replica.supervisor.start()
    client.answer_requests = False
    try:
        replica.model.add(to_coder(), commands("make"), ScriptedResponse(text=["ok"]))
        await client.new_session()
        rid = await client.prompt("go")
        await client.wait_for(lambda: bool(client.agent_requests))
        await client.answer(
            client.agent_requests[0],
            {
                "outcome": {"outcome": "selected", "optionId": "allow_once"},
                "_meta": {"codelab": {"editedArguments": {"command": "rm -rf /"}}},
            },
        )
        await client.wait_response(rid)
        assert "policy denies" in replica.model.requests[-1].messages[-1]["content"]
        assert all(r["method"] != "terminal/create" for r in client.agent_requests)
    finally:
        await replica.supervisor.stop()
