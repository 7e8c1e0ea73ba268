"""Boot the real mesh once per test session: PostgreSQL, Redis, nginx, every service as a process.

Two gateway replicas and two runtime replicas run behind nginx, so the suite also proves
that nothing depends on which replica a client reaches. The only fake is the LLM provider
(`codelab_testing.fake_provider`, a real OpenAI-compatible HTTP server run as a process).
"""

from __future__ import annotations

import asyncio
import socket
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import redis

from codelab_mesh.config import MeshConfig
from codelab_mesh.launcher import Mesh
from codelab_mesh.processes import ServiceProcess
from codelab_testing.fake_provider_models import Reply

ROOT = Path(__file__).resolve().parents[4]
PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/0"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _pg(statement: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def create_database(name: str) -> str:
    asyncio.run(_pg(f'CREATE DATABASE "{name}"'))
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"


def drop_database(name: str) -> None:
    asyncio.run(_pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@dataclass
class RunningMesh:
    """What tests need to reach the mesh and the fake provider."""

    mesh: Mesh
    config: MeshConfig
    provider_url: str
    redis_prefix: str
    databases: list[str] = field(default_factory=list)

    @property
    def public_url(self) -> str:
        return f"http://127.0.0.1:{self.config.nginx_port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.config.nginx_port}/acp"

    def set_script(self, name: str, replies: list[Reply]) -> None:
        """Queue the fake model's replies for requests marked ``[[script:name]]``."""
        body = {"replies": [r.model_dump() for r in replies]}
        response = httpx.post(f"{self.provider_url}/_scripts/{name}", json=body)
        response.raise_for_status()

    def model_requests(self, name: str) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.provider_url}/_requests", params={"script": name})
        response.raise_for_status()
        body = response.json()
        return list(body["requests"] if isinstance(body, dict) else body)

    def token(self, username: str, password: str, scope: str | None = None) -> str:
        data = {
            "grant_type": "password",
            "username": username,
            "password": password,
            "client_id": "codelab-cli",
        }
        if scope:
            data["scope"] = scope
        response = httpx.post(f"{self.public_url}/auth/oauth/token", data=data)
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def gateway_ws_url(self, index: int) -> str:
        """The WebSocket URL of one gateway replica, bypassing nginx."""
        return f"ws://127.0.0.1:{self.config.gateway_ports[index]}/acp"

    def session_owner(self, session_id: str) -> str | None:
        """The runtime replica holding the session's lease (e.g. ``runtime-2``)."""
        client = redis.Redis.from_url(REDIS_URL)
        try:
            value = client.get(f"{self.redis_prefix}session:{session_id}:lease")
        finally:
            client.close()
        return value.decode() if isinstance(value, bytes) else None

    def crash(self, name: str) -> None:
        """SIGKILL one service, as a crash would."""
        self.mesh.processes[name].kill()

    def restart(self, name: str) -> None:
        process = self.mesh.processes[name]
        process.start()
        with httpx.Client() as client:
            process.wait_ready(time.monotonic() + 120, client)

    def create_user(self, username: str, password: str, role: str = "developer") -> None:
        self.mesh.auth_cli(
            "create-user", username, "--role", role, "--password-stdin", stdin=password
        )


def _provider_process(run_dir: Path, port: int) -> ServiceProcess:
    return ServiceProcess(
        name="fake-provider",
        argv=[
            sys.executable,
            *("-m", "codelab_testing.fake_provider", "--host", "127.0.0.1", "--port", str(port)),
        ],
        env={},
        log_path=run_dir / "logs" / "fake-provider.log",
        pid_path=run_dir / "pids" / "fake-provider.pid",
        ready_url=f"http://127.0.0.1:{port}/v1/models",
    )


# The e2e model's context window, as the llm-proxy's config says it.
E2E_CONTEXT_WINDOW = 16_000


def _llm_config(path: Path, provider_url: str) -> Path:
    path.write_text(
        "model_list:\n"
        "  - model_name: codelab-default\n"
        "    litellm_params:\n"
        "      model: openai/fake-model\n"
        f"      api_base: {provider_url}/v1\n"
        "      api_key: fake-key\n"
        # A price, so the cost the llm-proxy reports back to the runtime is not zero, and
        # a context window the runtimes learn from the proxy (none is configured on them).
        "    price: {input_per_mtok: 1.0, output_per_mtok: 2.0}\n"
        f"    model_info: {{max_input_tokens: {E2E_CONTEXT_WINDOW}}}\n"
    )
    return path


def boot_mesh(tmp: Path) -> Iterator[RunningMesh]:
    """Start everything; yield; stop everything and drop what the run created."""
    run_id = uuid.uuid4().hex[:10]
    run_dir = tmp / "run"
    (run_dir / "logs").mkdir(parents=True)
    auth_db, runtime_db = f"codelab_e2e_auth_{run_id}", f"codelab_e2e_runtime_{run_id}"
    proxy_db = f"codelab_e2e_llm_proxy_{run_id}"
    provider_port = free_port()
    provider_url = f"http://127.0.0.1:{provider_port}"
    provider = _provider_process(run_dir, provider_port)
    redis_prefix = f"e2e:{run_id}:"
    created: list[str] = []
    try:
        for name in (auth_db, runtime_db, proxy_db):
            create_database(name)
            created.append(name)
        config = MeshConfig(
            root=ROOT,
            data_dir=tmp / "data",
            run_dir=run_dir,
            host="127.0.0.1",
            public_host="127.0.0.1",
            nginx_port=free_port(),
            auth_port=free_port(),
            gateway_ports=[free_port(), free_port()],
            runtime_ports=[free_port(), free_port()],
            llm_proxy_port=free_port(),
            redis_url=REDIS_URL,
            redis_prefix=redis_prefix,
            auth_database_url=f"postgresql+asyncpg://postgres@127.0.0.1:5432/{auth_db}",
            runtime_database_url=f"postgresql+asyncpg://postgres@127.0.0.1:5432/{runtime_db}",
            llm_proxy_database_url=f"postgresql+asyncpg://postgres@127.0.0.1:5432/{proxy_db}",
            llm_config_path=_llm_config(tmp / "models.yaml", provider_url),
            seed_demo=True,
            notice="e2e mesh with a scripted fake model",
            # Short leases so a crashed runtime's sessions are taken over within seconds.
            extra_env={"CODELAB_RUNTIME_LEASE_TTL_MS": "4000"},
        )
        mesh = Mesh(config, extra=[provider])
        started = time.monotonic()
        mesh.start(timeout=180)
        print(f"\n[e2e] mesh ready in {time.monotonic() - started:.1f}s", file=sys.stderr)
        try:
            yield RunningMesh(mesh, config, provider_url, redis_prefix, created)
        finally:
            mesh.stop()
    finally:
        for name in created:
            drop_database(name)
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(f"{redis_prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()
