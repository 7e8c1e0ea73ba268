"""The image recipe and its two scripts (codelab-serve, codelab-auth-init)."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings
from starlette.testclient import TestClient

from codelab_auth.app import create_app
from codelab_auth.settings import AuthSettings

BIN = Path(sys.executable).parent  # the workspace venv: codelab-auth lives here


@pytest.fixture(scope="module")
def dockerfile(root: Path) -> str:
    return (root / "deploy/docker/Dockerfile").read_text()


def _run(
    script: Path, *args: str, env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(script), *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": f"{BIN}:/usr/bin:/bin", **env},
        timeout=60,
    )


def test_dockerfile_shape(dockerfile: str) -> None:
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim", dockerfile, re.MULTILINE)
    assert re.search(r'pip install --no-cache-dir "uv==', dockerfile)
    syncs = re.findall(r"uv sync (.+)", dockerfile)
    assert len(syncs) == 2
    for sync in syncs:
        assert "--frozen" in sync
        assert "--no-dev" in sync
        assert '--package "codelab-${SERVICE}"' in sync
    assert "--no-install-workspace" in syncs[0]
    assert "--no-editable" in syncs[1]  # the final stage has no source tree
    final = dockerfile.split("AS final", 1)[1]
    assert re.search(r"^USER 10001:10001$", final, re.MULTILINE)
    assert "HEALTHCHECK" in final
    assert '"codelab-serve", "healthcheck"' in final
    assert re.search(r'^CMD \["codelab-serve"\]$', final, re.MULTILINE)


def test_every_service_is_a_locked_workspace_package(
    root: Path, dockerfile: str, settings_classes: dict[str, type[BaseSettings]]
) -> None:
    lock = (root / "uv.lock").read_text()
    serve = (root / "deploy/docker/codelab-serve").read_text()
    services = re.findall(r"^\s+([a-z-]+)\)\s+default_port=(\d+) ;;", serve, re.MULTILINE)
    assert {s for s, _ in services} == set(settings_classes)
    for service, port in services:
        assert f'name = "codelab-{service}"' in lock
        # Read, not imported: importing llm-proxy's app loads litellm (seconds).
        module = f"codelab_{service.replace('-', '_')}"
        (app,) = root.glob(f"services/*/src/{module}/app.py")
        assert "def create_app(" in app.read_text()
        assert settings_classes[service].model_fields["port"].default == int(port), service
    assert "deploy/docker/codelab-serve deploy/docker/codelab-auth-init" in dockerfile


def test_dockerignore_keeps_what_the_build_copies(root: Path) -> None:
    ignored = (root / ".dockerignore").read_text().split()
    for needed in ("pyproject.toml", "uv.lock", "libs", "services", "deploy"):
        assert needed not in ignored
    assert "**/.venv" in ignored
    assert "**/.git" in ignored


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 404)
        self.end_headers()
        self.wfile.write(b'{"status":"ok"}')

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def health_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_serve_healthcheck(root: Path, health_port: int) -> None:
    serve = root / "deploy/docker/codelab-serve"
    env = {"CODELAB_SERVICE": "gateway", "CODELAB_PORT": str(health_port)}
    assert _run(serve, "healthcheck", env=env).returncode == 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    closed = server.server_address[1]
    server.server_close()
    down = _run(serve, "healthcheck", env={**env, "CODELAB_PORT": str(closed)})
    assert down.returncode == 1
    assert down.stderr.startswith("healthcheck:")
    assert "Traceback" not in down.stderr


def test_serve_runs_other_commands_and_rejects_unknown_services(root: Path) -> None:
    serve = root / "deploy/docker/codelab-serve"
    passthrough = _run(serve, "echo", "hello", env={"CODELAB_SERVICE": "runtime"})
    assert passthrough.stdout == "hello\n"
    unknown = _run(serve, env={"CODELAB_SERVICE": "frontend"})
    assert unknown.returncode == 2
    assert "unknown service 'frontend'" in unknown.stderr


def test_auth_init_registers_clients_idempotently(root: Path, tmp_path: Path) -> None:
    init = root / "deploy/docker/codelab-auth-init"
    env = {
        "CODELAB_AUTH_DATA_DIR": str(tmp_path),
        "CODELAB_AUTH_KEY_ENCRYPTION_SECRET": "test-kek",
        "CODELAB_AUTH_LOG_JSON": "false",
        # Cheap argon2: this test is about the script, not the hash cost.
        "CODELAB_AUTH_ARGON2_MEMORY_KIB": "8",
        "CODELAB_AUTH_ARGON2_TIME_COST": "1",
        "CODELAB_AUTH_ARGON2_PARALLELISM": "1",
    }
    missing = _run(init, env=env)
    assert missing.returncode != 0
    assert "set CODELAB_RUNTIME_CLIENT_SECRET" in missing.stderr

    env["CODELAB_RUNTIME_CLIENT_SECRET"] = "runtime-secret-for-test"
    first = _run(
        init, env={**env, "CODELAB_ADMIN_USERNAME": "root", "CODELAB_ADMIN_PASSWORD": "pw"}
    )
    assert first.returncode == 0, first.stderr
    assert "created client codelab-runtime" in first.stdout
    assert "created client codelab-cli" in first.stdout
    assert "created user root" in first.stdout
    again = _run(init, env=env)
    assert again.returncode == 0, again.stderr
    assert "updated client codelab-runtime" in again.stdout
    assert "user" not in again.stdout
    assert "runtime-secret-for-test" not in first.stdout + first.stderr + again.stdout

    settings = AuthSettings(
        data_dir=tmp_path,
        key_encryption_secret="test-kek",
        argon2_memory_kib=8,
        argon2_time_cost=1,
        argon2_parallelism=1,
    )
    with TestClient(create_app(settings)) as client:
        basic = base64.b64encode(b"codelab-runtime:runtime-secret-for-test").decode()
        response = client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "scope": "llm:invoke"},
            headers={"Authorization": f"Basic {basic}"},
        )
        assert response.status_code == 200, response.text
        payload = response.json()["access_token"].split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        assert claims["aud"] in ("codelab-llm-proxy", ["codelab-llm-proxy"])
        assert claims["scope"] == "llm:invoke"
        login = client.post(
            "/oauth/token",
            data={
                "grant_type": "password",
                "client_id": "codelab-cli",
                "username": "root",
                "password": "pw",
                "scope": "sessions:read sessions:write",
            },
        )
        assert login.status_code == 200, login.text
