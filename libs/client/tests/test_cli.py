"""``codelab`` as a user runs it: a real process, real sockets, the fake mesh."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from codelab_client.auth import OAuthClient, PasswordFlow, login
from codelab_client.credentials import CredentialStore
from codelab_client.errors import ExitCode

PASSWORD = "s3cret-pw"


@pytest.fixture
def env(tmp_path: Path, config_dir: Path, mesh: Any) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path / "home"),
        "CODELAB_CONFIG_DIR": str(config_dir),
        "CODELAB_SERVER": mesh.url,
        "PYTHONUNBUFFERED": "1",
    }


@pytest.fixture
async def logged_in(mesh: Any, config_dir: Path) -> None:
    """Stored credentials for the test user, without paying for a `codelab login` process."""
    async with httpx.AsyncClient() as http:
        flow = PasswordFlow("dev", SecretStr(PASSWORD))
        await login(CredentialStore(config_dir), OAuthClient(mesh.url, http), flow, "dev")


async def codelab(
    env: dict[str, str], *args: str, stdin: str = "", extra: dict[str, str] | None = None
) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "codelab_client.cli",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**env, **(extra or {})},
    )
    out, err = await asyncio.wait_for(process.communicate(stdin.encode()), 20)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def _assert_no_tokens(mesh: Any, *texts: str) -> None:
    for token in mesh.access_tokens | mesh.refresh_tokens | mesh.spent_refresh_tokens:
        for text in texts:
            assert token not in text
    for text in texts:
        assert PASSWORD not in text


async def test_login_then_chat(env: dict[str, str], mesh: Any, workspace: Path) -> None:
    code, out, err = await codelab(
        env, "login", "--username", "dev", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert code == 0, err
    assert "logged in" in err
    code, out, err = await codelab(env, "chat", "--workspace", str(workspace), "stream")
    assert code == ExitCode.OK, err
    assert out == "Hello, worldDone.\n"
    assert "── debug ──" in err
    assert "session: sess_test1" in err
    _assert_no_tokens(mesh, out, err)
    # DPoP by default: the token is bound and the upgrade carried a valid proof.
    assert len(mesh.bound_tokens) == 1
    assert ("dpop", next(iter(mesh.bound_tokens.values()))) in mesh.log


async def test_dpop_opt_out_gets_bearer_tokens(
    env: dict[str, str], mesh: Any, workspace: Path, config_dir: Path
) -> None:
    no_dpop = {"CODELAB_DPOP": "0"}
    code, _, err = await codelab(
        env, "login", "--username", "dev", "--password-stdin", stdin=PASSWORD + "\n", extra=no_dpop
    )
    assert code == 0, err
    code, out, err = await codelab(
        env, "chat", "--workspace", str(workspace), "stream", extra=no_dpop
    )
    assert code == ExitCode.OK, err
    assert out == "Hello, worldDone.\n"
    assert mesh.access_tokens
    assert not mesh.bound_tokens
    assert not (config_dir / "dpop-key.json").exists()


async def test_login_wrong_password(env: dict[str, str], mesh: Any) -> None:
    code, _, err = await codelab(
        env, "login", "--username", "dev", "--password-stdin", stdin="nope\n"
    )
    assert code == ExitCode.AUTH
    assert "invalid_grant" in err


async def test_chat_logs_in_from_env_and_rejects_permission_without_tty(
    env: dict[str, str], mesh: Any, workspace: Path, config_dir: Path
) -> None:
    creds = {"CODELAB_USERNAME": "dev", "CODELAB_PASSWORD": PASSWORD}
    code, out, err = await codelab(
        env, "chat", "--workspace", str(workspace), "permission", extra=creds
    )
    assert code == ExitCode.OK, err
    assert out == "permission: no\n"
    assert "no terminal to ask on" in err
    assert (config_dir / "credentials.json").exists()
    code, out, _ = await codelab(env, "chat", "--workspace", str(workspace), "--yes", "permission")
    assert out == "permission: yes-once\n"
    _assert_no_tokens(mesh, out, err)


async def test_chat_without_login_fails_with_auth_code(
    env: dict[str, str], workspace: Path
) -> None:
    code, _, err = await codelab(env, "chat", "--workspace", str(workspace), "stream")
    assert code == ExitCode.AUTH
    assert "codelab login" in err


async def test_ctrl_c_cancels_the_turn(env: dict[str, str], mesh: Any, workspace: Path) -> None:
    creds = {"CODELAB_USERNAME": "dev", "CODELAB_PASSWORD": PASSWORD}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "codelab_client.cli",
        "chat",
        "--workspace",
        str(workspace),
        "slow",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**env, **creds},
    )
    assert process.stdout is not None
    assert await asyncio.wait_for(process.stdout.read(1), 15) == b"."
    process.send_signal(signal.SIGINT)
    _out, err = await asyncio.wait_for(process.communicate(), 15)
    assert process.returncode == ExitCode.CANCELLED, err
    assert any(name == "cancel" for name, _ in mesh.log)
    assert b"[cancelled]" in err


class RecordingEditor:
    """What an ACP editor does, minimally: record updates, serve one file, allow tools."""

    def __init__(self) -> None:
        self.updates: list[Any] = []

    async def session_update(self, session_id: str, update: Any, **kwargs: Any) -> None:
        self.updates.append(update)

    async def read_text_file(self, session_id: str, path: str, **kwargs: Any) -> Any:
        from acp.schema import ReadTextFileResponse

        return ReadTextFileResponse(content=f"editor buffer of {path}")

    async def request_permission(self, **kwargs: Any) -> Any:
        from acp.schema import AllowedOutcome, RequestPermissionResponse

        return RequestPermissionResponse(
            outcome=AllowedOutcome(outcome="selected", option_id="yes-once")
        )


@pytest.mark.usefixtures("logged_in")
async def test_acp_bridge_relays_for_an_sdk_client(
    env: dict[str, str], mesh: Any, workspace: Path
) -> None:
    from acp import PROTOCOL_VERSION, connect_to_agent, spawn_stdio_transport, text_block
    from acp.schema import ClientCapabilities, FileSystemCapabilities

    editor = RecordingEditor()
    async with spawn_stdio_transport(
        sys.executable, "-m", "codelab_client.cli", "acp", env=env
    ) as (reader, writer, process):
        conn = connect_to_agent(editor, writer, reader)
        caps = ClientCapabilities(fs=FileSystemCapabilities(read_text_file=True))
        await conn.initialize(protocol_version=PROTOCOL_VERSION, client_capabilities=caps)
        session = await conn.new_session(cwd=str(workspace), mcp_servers=[])
        stream = await conn.prompt(session_id=session.session_id, prompt=[text_block("stream")])
        read = await conn.prompt(session_id=session.session_id, prompt=[text_block("read a.py")])
        allowed = await conn.prompt(
            session_id=session.session_id, prompt=[text_block("permission")]
        )
        await conn.close()
    assert process.returncode == 0
    assert (stream.stop_reason, read.stop_reason, allowed.stop_reason) == ("end_turn",) * 3
    texts = [u.content.text for u in editor.updates if u.session_update == "agent_message_chunk"]
    assert texts == [
        "Hello",
        ", world",
        "Done.",
        "read: editor buffer of a.py",
        "permission: yes-once",
    ]
    modes = [u.current_mode_id for u in editor.updates if u.session_update == "current_mode_update"]
    assert modes == ["debug"]


async def _bridge_once(env: dict[str, str]) -> tuple[int, str, str]:
    """Send ``initialize`` and keep stdin open: the bridge must end on the socket's close."""
    request = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": 1}}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "codelab_client.cli",
        "acp",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    assert process.stderr is not None
    process.stdin.write(json.dumps(request).encode() + b"\n")
    code = await asyncio.wait_for(process.wait(), 20)
    out, err = await process.stdout.read(), await process.stderr.read()
    process.stdin.close()
    return code, out.decode(), err.decode()


async def test_acp_bridge_without_login(env: dict[str, str]) -> None:
    code, out, err = await _bridge_once(env)
    assert code == ExitCode.AUTH
    assert out == ""
    assert "codelab login" in err


@pytest.mark.usefixtures("logged_in")
async def test_acp_bridge_reports_4401(env: dict[str, str], mesh: Any) -> None:
    mesh.access_tokens.clear()  # the server no longer accepts the stored token
    code, out, err = await _bridge_once(env)
    assert code == ExitCode.AUTH
    assert out == ""
    assert "4401" in err
    assert "codelab login" in err


@pytest.mark.usefixtures("logged_in")
async def test_chat_with_rejected_token_says_login(
    env: dict[str, str], mesh: Any, workspace: Path
) -> None:
    mesh.access_tokens.clear()
    code, out, err = await codelab(env, "chat", "--workspace", str(workspace), "stream")
    assert code == ExitCode.AUTH, err
    assert out == ""
    assert "4401" in err
    assert "codelab login" in err


async def test_chat_missing_workspace_is_a_usage_error(env: dict[str, str], tmp_path: Path) -> None:
    code, _, err = await codelab(env, "chat", "--workspace", str(tmp_path / "nope"), "hi")
    assert code == ExitCode.USAGE
    assert "not a directory" in err
