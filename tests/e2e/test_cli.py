"""The `codelab` terminal client and the `codelab acp` stdio bridge, as processes."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

from acp import PROTOCOL_VERSION, connect_to_agent, text_block
from acp.schema import ClientCapabilities, FileSystemCapabilities
from acp.transports import spawn_stdio_transport

from codelab_testing.acp_driver import RecordingClient
from codelab_testing.fake_provider_models import Reply
from codelab_testing.mesh_fixture import RunningMesh

CODELAB = str(Path(sys.executable).parent / "codelab")
FIXED = "def add(a, b):\n    return a + b\n"


def _env(config_dir: Path, mesh: RunningMesh) -> dict[str, str]:
    return {
        **os.environ,
        "CODELAB_CONFIG_DIR": str(config_dir),
        "CODELAB_SERVER": mesh.public_url,
        "NO_COLOR": "1",
    }


def _login(env: dict[str, str]) -> None:
    result = subprocess.run(
        [CODELAB, "login", "--username", "demo", "--password-stdin"],
        input="demo\n", env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_codelab_chat_fixes_calc(mesh: RunningMesh, tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    script = f"cli-{uuid.uuid4().hex[:8]}"
    mesh.set_script(
        script,
        [
            Reply.tool("switch_mode", {"mode": "debug", "reason": "test fails"}),
            Reply.tool("read_file", {"path": "calc.py"}),
            Reply.tool("switch_mode", {"mode": "coder", "reason": "fix"}),
            Reply.tool("write_file", {"path": "calc.py", "content": FIXED}),
            Reply.text("Fixed: add returns a + b."),
        ],
    )
    env = _env(tmp_path / "config", mesh)
    _login(env)
    credentials = tmp_path / "config" / "credentials.json"
    assert credentials.stat().st_mode & 0o777 == 0o600
    result = subprocess.run(
        [CODELAB, "chat", "--workspace", str(workspace), "--yes",
         f"fix the failing test in calc.py [[script:{script}]]"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Fixed: add returns a + b." in result.stdout
    assert "notice: e2e mesh with a scripted fake model" in result.stderr
    assert "debug" in result.stderr
    assert "coder" in result.stderr
    assert (workspace / "calc.py").read_text() == FIXED


async def test_codelab_acp_bridge_speaks_acp_on_stdio(mesh: RunningMesh, tmp_path: Path) -> None:
    env = _env(tmp_path / "config", mesh)
    _login(env)
    script = f"bridge-{uuid.uuid4().hex[:8]}"
    mesh.set_script(script, [Reply.text("Hello from behind the bridge.")])
    client = RecordingClient(tmp_path, allow=False)
    async with spawn_stdio_transport(CODELAB, "acp", env=env) as (reader, writer, _process):
        conn = connect_to_agent(client, writer, reader)
        init = await conn.initialize(
            protocol_version=PROTOCOL_VERSION,
            client_capabilities=ClientCapabilities(
                fs=FileSystemCapabilities(read_text_file=True, write_text_file=True)
            ),
        )
        assert init.agent_capabilities is not None
        assert init.agent_capabilities.load_session
        session = await conn.new_session(cwd=str(tmp_path), mcp_servers=[])
        response = await conn.prompt(
            session_id=session.session_id, prompt=[text_block(f"hi [[script:{script}]]")]
        )
        await conn.close()
    assert response.stop_reason == "end_turn"
    assert client.text() == "Hello from behind the bridge."
