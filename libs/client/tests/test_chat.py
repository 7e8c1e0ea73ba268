"""Chat turns against the scripted agent over a real WebSocket."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from codelab_client.errors import ExitCode


async def test_streams_in_order_with_mode_switches(run_chat: Any, mesh: Any) -> None:
    result = await run_chat("stream", combined=True, mode="coder")
    assert result.code == ExitCode.OK
    text = result.out
    order = [
        "session: sess_test1",
        "── orchestrator ──",
        "── coder ──",
        "thinking about it",
        "plan:\n  [~] look",
        "Hello, world",
        "── debug ──",
        "… Run tests [execute] pending",
        "✓ Run tests [execute] completed",
        "Done.",
        "[end_turn] continue with: --session sess_test1",
    ]
    positions = [text.index(piece) for piece in order]
    assert positions == sorted(positions), text
    assert ("set_mode", "coder") in mesh.log


async def test_stdout_carries_only_the_agent_text(run_chat: Any) -> None:
    result = await run_chat("stream")
    assert result.out == "Hello, worldDone.\n"
    assert "── debug ──" in result.err
    assert "thinking about it" in result.err


async def test_advertises_fs_and_terminal_and_uses_absolute_cwd(
    run_chat: Any, mesh: Any, workspace: Path
) -> None:
    await run_chat("refuse")
    caps = next(value for name, value in mesh.log if name == "initialize")
    assert caps.fs.read_text_file
    assert caps.fs.write_text_file
    assert caps.terminal
    root = str(workspace.resolve())  # noqa: ASYNC240
    assert ("new_session", root) in mesh.log


async def test_load_session_when_continuing(run_chat: Any, mesh: Any) -> None:
    result = await run_chat("stream", session="sess_old")
    assert result.code == ExitCode.OK
    assert ("load_session", "sess_old") in mesh.log
    assert "session: sess_old" in result.err
    assert result.out == "Hello, worldDone.\n"  # the replayed "old answer" is not shown
    assert "1 earlier updates not shown" in result.err


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("read notes.txt", "read: one\ntwo\nthree\nfour\n"),
        ("readlines notes.txt", "read: two\nthree\n"),
        ("read ../secret.txt", "read: error -32005"),
        ("read /etc/hostname", "read: error -32005"),
        ("read link-out", "read: error -32005"),
        ("read missing.txt", "read: error -32002"),
        ("write ../escaped.txt", "write: error -32005"),
        ("write link-out", "write: error -32005"),
    ],
)
async def test_file_requests_are_sandboxed(
    run_chat: Any, workspace: Path, tmp_path: Path, prompt: str, expected: str
) -> None:
    (workspace / "link-out").symlink_to(tmp_path / "secret.txt")
    result = await run_chat(prompt)
    assert result.code == ExitCode.OK
    assert result.out.rstrip("\n") == expected.rstrip("\n")
    assert (tmp_path / "secret.txt").read_text() == "outside secret\n"
    assert not (tmp_path / "escaped.txt").exists()


async def test_write_creates_file_inside(run_chat: Any, workspace: Path) -> None:
    result = await run_chat("write deep/dir/new.txt")
    assert result.out == "write: ok\n"
    assert (workspace / "deep/dir/new.txt").read_text() == "written by agent\n"


@pytest.mark.parametrize(
    ("kwargs", "chosen"),
    [
        ({"yes": True}, "yes-once"),
        ({"interactive": True, "stdin": "y\n"}, "yes-once"),
        ({"interactive": True, "stdin": "a\n"}, "yes-always"),
        ({"interactive": True, "stdin": "n\n"}, "no"),
        ({"interactive": True, "stdin": ""}, "no"),  # EOF
        ({"interactive": False, "stdin": "y\n"}, "no"),  # no TTY: never read
    ],
)
async def test_permission_answers(run_chat: Any, kwargs: dict[str, Any], chosen: str) -> None:
    result = await run_chat("permission", **kwargs)
    assert result.out == f"permission: {chosen}\n"
    assert "? permission: Delete build dir" in result.err
    assert "$ rm -rf build" in result.err


@pytest.mark.parametrize(
    ("kwargs", "answer"),
    [
        ({"interactive": True, "stdin": "mysql please\n"}, {"answer": "mysql please"}),
        ({"interactive": True, "stdin": "2\n"}, {"answer": "postgres"}),
        ({"interactive": True, "stdin": ""}, {}),  # EOF: no answer
        ({"interactive": True, "stdin": "\n"}, {}),  # empty line: no answer
        ({"interactive": False, "stdin": "sqlite\n"}, {}),  # no TTY: never read
        ({"yes": True, "stdin": "sqlite\n"}, {}),  # --yes does not answer questions
    ],
)
async def test_followup_question_answers(
    run_chat: Any, kwargs: dict[str, Any], answer: dict[str, str]
) -> None:
    result = await run_chat("ask", **kwargs)
    assert result.code == ExitCode.OK
    assert result.out == f"answer: {answer!r}\n"
    assert "? question: Which database?" in result.err
    assert "1. sqlite" in result.err
    assert "2. postgres" in result.err


async def test_terminal_with_output_limit(run_chat: Any, mesh: Any, workspace: Path) -> None:
    result = await run_chat("terminal 20 pwd; printf 'abcdefghij%.0s' 1 2 3 4 5; exit 3")
    assert result.out == "exit 3\n"
    output, truncated, code = next(v for k, v in mesh.log if k == "terminal")
    assert (output, truncated, code) == ("abcdefghijabcdefghij", True, 3)


async def test_terminal_runs_in_workspace_untruncated(
    run_chat: Any, mesh: Any, workspace: Path
) -> None:
    await run_chat("terminal 4096 pwd")
    output, truncated, code = next(v for k, v in mesh.log if k == "terminal")
    root = workspace.resolve()  # noqa: ASYNC240
    assert (output, truncated, code) == (f"{root}\n", False, 0)


async def test_terminal_cwd_outside_is_denied(run_chat: Any) -> None:
    result = await run_chat("badcwd")
    assert result.out == "terminal: error -32005\n"


async def test_refusal_exit_code(run_chat: Any) -> None:
    result = await run_chat("refuse")
    assert result.code == ExitCode.REFUSED


async def test_agent_error_exit_code(run_chat: Any) -> None:
    result = await run_chat("no-such-script")
    assert result.code == ExitCode.ERROR
    assert "the agent answered with error -32603" in result.err
