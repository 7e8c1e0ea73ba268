"""The tools, driven by a scripted model through a real replica and the editor double."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from runtime_helpers import EditorClient, Replica

from codelab_common import events as ev
from codelab_runtime.testing import ScriptedResponse, ScriptedToolCall


def call(name: str, **arguments: object) -> ScriptedToolCall:
    return ScriptedToolCall(name, dict(arguments))


def to(mode: str) -> ScriptedResponse:
    return ScriptedResponse(tool_calls=[call("switch_mode", mode=mode, reason="test")])


def tool_results(replica: Replica) -> list[str]:
    return [m["content"] for m in replica.model.requests[-1].messages if m["role"] == "tool"]


async def run(client: EditorClient, text: str = "go") -> dict[str, Any]:
    await client.new_session()
    response = await client.wait_response(await client.prompt(text))
    return response["result"]


async def test_read_file_line_range_goes_to_acp_line_and_limit(
    replica: Replica, client: EditorClient, workspace: Path
) -> None:
    (workspace / "long.txt").write_text("".join(f"line {i}\n" for i in range(1, 11)))
    replica.model.add(
        to("ask"),
        ScriptedResponse(tool_calls=[call("read_file", path="long.txt", offset=3, limit=2)]),
        ScriptedResponse(text=["ok"]),
    )
    await run(client)
    read = next(r for r in client.agent_requests if r["method"] == "fs/read_text_file")
    assert (read["params"]["line"], read["params"]["limit"]) == (3, 2)
    assert tool_results(replica)[-1] == "line 3\nline 4\n"


async def test_edit_file_replaces_one_unique_occurrence_after_approval(
    replica: Replica, client: EditorClient, workspace: Path
) -> None:
    replica.model.add(
        to("coder"),
        ScriptedResponse(
            tool_calls=[call("edit_file", path="app.py", old_text="a - b", new_text="a + b")]
        ),
        ScriptedResponse(text=["fixed"]),
    )
    assert (await run(client))["stopReason"] == "end_turn"
    assert (workspace / "app.py").read_text() == "def add(a, b):\n    return a + b\n"
    methods = [r["method"] for r in client.agent_requests]
    assert methods == ["fs/read_text_file", "session/request_permission", "fs/write_text_file"]
    assert "replaced 1 occurrence" in tool_results(replica)[-1]


async def test_edit_file_with_ambiguous_or_missing_text_is_a_tool_error(
    replica: Replica, client: EditorClient, workspace: Path
) -> None:
    (workspace / "twice.py").write_text("x = 1\nx = 1\n")
    replica.model.add(
        to("coder"),
        ScriptedResponse(
            tool_calls=[
                call("edit_file", path="twice.py", old_text="x = 1", new_text="x = 2"),
                call("edit_file", path="app.py", old_text="nowhere", new_text="x"),
            ]
        ),
        ScriptedResponse(text=["giving up"]),
    )
    await run(client)
    ambiguous, missing = tool_results(replica)[-2:]
    assert "occurs 2 times" in ambiguous
    assert ambiguous.startswith("Error:")
    assert "not found" in missing
    # Nothing was asked or written: the errors surfaced before the approval.
    methods = {r["method"] for r in client.agent_requests}
    assert methods == {"fs/read_text_file"}
    assert (workspace / "twice.py").read_text() == "x = 1\nx = 1\n"


async def test_execute_command_and_the_run_command_alias(
    replica: Replica, client: EditorClient
) -> None:
    replica.model.add(
        to("coder"),
        ScriptedResponse(
            tool_calls=[
                call("execute_command", command="echo new"),
                call("run_command", command="echo old"),
            ]
        ),
        ScriptedResponse(text=["ran"]),
    )
    await run(client)
    assert tool_results(replica)[-2:] == ["Exit code: 0\nnew\n", "Exit code: 0\nold\n"]
    completed = [e.tool for e in replica.events if isinstance(e, ev.ToolCompleted)]
    assert completed.count("execute_command") == 2


def git(workspace: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=workspace, capture_output=True, text=True, check=True)
    return done.stdout


async def test_git_tools_return_structured_results_from_a_real_repository(
    replica: Replica, client: EditorClient, workspace: Path
) -> None:
    git(workspace, "init", "-q", "-b", "main")
    git(workspace, "config", "user.email", "t@example.com")
    git(workspace, "config", "user.name", "Tester")
    git(workspace, "add", "app.py")
    git(workspace, "commit", "-q", "-m", "initial")
    (workspace / "app.py").write_text("def add(a, b):\n    return a + b\n")
    (workspace / "new.txt").write_text("n\n")
    replica.model.add(
        to("coder"),
        ScriptedResponse(
            tool_calls=[
                call("git_status"),
                call("git_diff", path="app.py"),
                call("git_branch"),
                call("git_commit", message="fix add", paths=["app.py", "new.txt"]),
                call("git_log", max_count=5),
            ]
        ),
        ScriptedResponse(text=["committed"]),
    )
    await run(client)
    status, diff, branch, commit, log = (json.loads(t) for t in tool_results(replica)[-5:])
    assert status["branch"] == "main"
    assert not status["clean"]
    assert {f["path"]: f["worktree"] for f in status["files"]} == {"app.py": "M", "new.txt": "?"}
    assert diff["files"] == [{"path": "app.py", "added": 1, "removed": 1}]
    assert "+    return a + b" in diff["diff"]
    assert branch == {"current": "main", "branches": ["main"]}
    assert commit["branch"] == "main"
    assert len(commit["commit"]) >= 7
    assert [c["subject"] for c in log["commits"]] == ["fix add", "initial"]
    assert log["commits"][0]["sha"].startswith(commit["commit"])
    assert git(workspace, "status", "--porcelain") == ""
    # The commit was approved; the reads were not asked about.
    permissions = [r for r in client.agent_requests if r["method"] == "session/request_permission"]
    assert [p["params"]["toolCall"]["title"] for p in permissions] == ["git_commit"]


async def test_ask_followup_question_is_an_extension_request_the_client_answers(
    replica: Replica, client: EditorClient
) -> None:
    client.followup = lambda params: f"use {params['suggestions'][1]}"
    replica.model.add(
        ScriptedResponse(
            tool_calls=[
                call("ask_followup_question", question="Which DB?", suggestions=["sqlite", "pg"])
            ]
        ),
        ScriptedResponse(text=["ok, pg"]),
    )
    await run(client)
    asked = next(r for r in client.agent_requests if r["method"] == "_codelab/ask_followup")
    assert asked["params"]["question"] == "Which DB?"
    assert asked["params"]["sessionId"] == client.session_id
    assert tool_results(replica)[-1] == "The user answered: use pg"


async def test_attempt_completion_ends_the_turn_with_the_result(
    replica: Replica, client: EditorClient
) -> None:
    replica.model.add(
        ScriptedResponse(tool_calls=[call("attempt_completion", result="All done: 3 files.")]),
    )
    assert (await run(client))["stopReason"] == "end_turn"
    assert client.texts()[-1] == "All done: 3 files."
    assert len(replica.model.requests) == 1


async def test_architect_may_write_markdown_but_not_python(
    replica: Replica, client: EditorClient, workspace: Path
) -> None:
    replica.model.add(
        to("architect"),
        ScriptedResponse(
            tool_calls=[
                call("write_file", path="evil.py", content="x"),
                call("edit_file", path="app.py", old_text="a - b", new_text="a + b"),
                call("write_file", path="design.md", content="# Plan\n"),
            ]
        ),
        ScriptedResponse(text=["planned"]),
    )
    await run(client)
    py_write, py_edit, md_write = tool_results(replica)[-3:]
    assert "architect agent may only write files matching: *.md" in py_write
    assert "may only write files matching" in py_edit
    assert md_write.startswith("Wrote")
    assert not (workspace / "evil.py").exists()
    assert (workspace / "design.md").read_text() == "# Plan\n"


async def test_ask_and_debug_may_not_write_anything(
    replica: Replica, client: EditorClient, workspace: Path
) -> None:
    writes = ScriptedResponse(
        tool_calls=[
            call("write_file", path="notes.md", content="x"),
            call("edit_file", path="app.py", old_text="a - b", new_text="a + b"),
            call("git_commit", message="sneaky"),
        ]
    )
    replica.model.add(to("ask"), writes, to("debug"), writes, ScriptedResponse(text=["no"]))
    await run(client)
    results = tool_results(replica)
    ask_results, debug_results = results[1:4], results[5:8]
    assert all("ask agent may not use" in r for r in ask_results)
    assert all("debug agent may not use" in r for r in debug_results)
    assert not (workspace / "notes.md").exists()
    assert "return a - b" in (workspace / "app.py").read_text()
    assert all(r["method"] != "session/request_permission" for r in client.agent_requests)
    rejected = [e for e in replica.events if isinstance(e, ev.ToolRejected)]
    assert len(rejected) == 6
    assert {e.reason for e in rejected} == {"not_allowed"}
