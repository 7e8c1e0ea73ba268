"""Start and stop a whole mesh: auth, llm-proxy, runtime replicas, gateway replicas, nginx."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

from codelab_mesh import nginx
from codelab_mesh.config import MeshConfig
from codelab_mesh.processes import ProcessFailed, ServiceProcess

RUNTIME_CLIENT_ID = "codelab-runtime"


def _uvicorn(module: str, host: str, port: int) -> list[str]:
    # --no-access-log: access lines would carry `?access_token=` query strings.
    return [
        sys.executable, "-m", "uvicorn", f"{module}:create_app", "--factory",
        "--host", host, "--port", str(port), "--no-access-log", "--log-level", "warning",
        "--timeout-graceful-shutdown", "5",
        # nginx on loopback sets X-Forwarded-For: auth's per-address login throttle needs it.
        "--proxy-headers", "--forwarded-allow-ips", "127.0.0.1",
    ]  # fmt: skip


class Mesh:
    """A running local mesh; use as a context manager or call start()/stop()."""

    def __init__(self, config: MeshConfig, extra: list[ServiceProcess] | None = None) -> None:
        self.config = config
        self.processes: dict[str, ServiceProcess] = {}
        self._extra = extra or []
        self.runtime_client_secret = ""

    # -- environment of each service ---------------------------------------------------------
    def _common(self, prefix: str, port: int) -> dict[str, str]:
        return {
            f"{prefix}HOST": self.config.host,
            f"{prefix}PORT": str(port),
            f"{prefix}LOG_JSON": str(self.config.log_json).lower(),
        }

    def auth_env(self) -> dict[str, str]:
        c = self.config
        return {
            **self._common("CODELAB_AUTH_", c.auth_port),
            "CODELAB_AUTH_DATA_DIR": str(c.data_dir),
            "CODELAB_AUTH_DATABASE_URL": c.auth_database_url or c.sqlite_url("auth.db"),
            "CODELAB_AUTH_ISSUER": c.issuer,
            "CODELAB_AUTH_KEY_ENCRYPTION_SECRET": c.persistent_secret("auth-key-encryption"),
            "CODELAB_AUTH_SEED_DEMO": str(c.seed_demo).lower(),
        }

    def _resource_server(self, prefix: str) -> dict[str, str]:
        return {
            f"{prefix}JWKS_URL": f"{self.config.auth_url}/.well-known/jwks.json",
            f"{prefix}ISSUER": self.config.issuer,
        }

    def _redis(self, prefix: str) -> dict[str, str]:
        return {
            f"{prefix}REDIS_URL": self.config.redis_url,
            f"{prefix}REDIS_PREFIX": self.config.redis_prefix,
        }

    def llm_proxy_env(self) -> dict[str, str]:
        c = self.config
        config_path = c.llm_config_path or c.root / "deploy/llm-proxy/models.local.yaml"
        return {
            **self._common("CODELAB_LLM_PROXY_", c.llm_proxy_port),
            **self._resource_server("CODELAB_LLM_PROXY_"),
            **self._redis("CODELAB_LLM_PROXY_"),  # breakers, cache and limits shared
            "CODELAB_LLM_PROXY_DATA_DIR": str(c.data_dir),
            "CODELAB_LLM_PROXY_DATABASE_URL": c.llm_proxy_database_url
            or c.sqlite_url("llm-proxy.db"),
            "CODELAB_LLM_PROXY_CONFIG_PATH": str(config_path),
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        }

    def runtime_env(self, index: int, port: int) -> dict[str, str]:
        c = self.config
        return {
            **self._common("CODELAB_RUNTIME_", port),
            **self._redis("CODELAB_RUNTIME_"),
            "CODELAB_RUNTIME_DATA_DIR": str(c.data_dir),
            "CODELAB_RUNTIME_DATABASE_URL": c.runtime_database_url or c.sqlite_url("runtime.db"),
            "CODELAB_RUNTIME_LLM_PROXY_URL": f"{c.llm_proxy_url}/v1",
            "CODELAB_RUNTIME_TOKEN_URL": f"{c.auth_url}/oauth/token",
            "CODELAB_RUNTIME_CLIENT_ID": RUNTIME_CLIENT_ID,
            "CODELAB_RUNTIME_CLIENT_SECRET": self.runtime_client_secret,
            "CODELAB_RUNTIME_INSTANCE_ID": f"runtime-{index}",
        }

    def gateway_env(self, port: int) -> dict[str, str]:
        return {
            **self._common("CODELAB_GATEWAY_", port),
            "CODELAB_GATEWAY_NOTICE": self.config.notice,
            # DPoP proofs name the URL the client used: the public one, through nginx.
            "CODELAB_GATEWAY_PUBLIC_URL": ",".join(self.config.public_urls),
            **self._redis("CODELAB_GATEWAY_"),
            **self._resource_server("CODELAB_GATEWAY_"),
        }

    # -- lifecycle ------------------------------------------------------------------------------
    def _service(self, name: str, argv: list[str], env: dict[str, str], ready: str | None) -> None:
        run = self.config.run_dir
        self.processes[name] = ServiceProcess(
            name=name,
            argv=argv,
            env={**self.config.extra_env, **env},
            log_path=run / "logs" / f"{name}.log",
            pid_path=run / "pids" / f"{name}.pid",
            ready_url=ready,
            cwd=self.config.root,
        )

    def auth_cli(self, *args: str, stdin: str | None = None) -> None:
        cli = str(Path(sys.executable).parent / "codelab-auth")
        result = subprocess.run(
            [cli, *args],
            input=stdin,
            env={**os.environ, **self.config.extra_env, **self.auth_env()},
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise ProcessFailed(f"codelab-auth {args[0]} failed:\n{result.stdout}\n{result.stderr}")

    def prepare(self) -> None:
        """Create dirs, migrate auth's database, register the runtime's client credentials."""
        c = self.config
        c.data_dir.mkdir(parents=True, exist_ok=True)
        c.run_dir.mkdir(parents=True, exist_ok=True)
        self.runtime_client_secret = c.persistent_secret("runtime-client-secret")
        self.auth_cli("migrate")
        self.auth_cli(
            "create-client", RUNTIME_CLIENT_ID, "--secret-stdin",
            "--scope", "llm:invoke", "--audience", "codelab-llm-proxy",
            "--grant", "client_credentials",
            stdin=self.runtime_client_secret,
        )  # fmt: skip

    def plan(self) -> None:
        c = self.config
        # Extra processes (the model provider) are back-end dependencies: first up, last down.
        for proc in self._extra:
            self.processes[proc.name] = proc
        self._service(
            "auth", _uvicorn("codelab_auth.app", c.host, c.auth_port), self.auth_env(),
            f"{c.auth_url}/readyz",
        )  # fmt: skip
        self._service(
            "llm-proxy", _uvicorn("codelab_llm_proxy.app", c.host, c.llm_proxy_port),
            self.llm_proxy_env(), f"{c.llm_proxy_url}/readyz",
        )  # fmt: skip
        for i, port in enumerate(c.runtime_ports, start=1):
            self._service(
                f"runtime-{i}", _uvicorn("codelab_runtime.app", c.host, port),
                self.runtime_env(i, port), f"http://{c.host}:{port}/readyz",
            )  # fmt: skip
        for i, port in enumerate(c.gateway_ports, start=1):
            self._service(
                f"gateway-{i}", _uvicorn("codelab_gateway.app", c.host, port),
                self.gateway_env(port), f"http://{c.host}:{port}/readyz",
            )  # fmt: skip
        conf = nginx.render(c)
        nginx.check(conf)
        self._service(
            "nginx", [nginx.nginx_binary(), "-c", str(conf), "-p", str(conf.parent)], {},
            f"http://{c.host}:{c.nginx_port}/auth/.well-known/openid-configuration",
        )  # fmt: skip

    def start(self, timeout: float = 120.0) -> None:
        self.prepare()
        self.plan()
        try:
            for proc in self.processes.values():
                proc.start()
            deadline = time.monotonic() + timeout
            with httpx.Client() as client:
                for proc in self.processes.values():
                    proc.wait_ready(deadline, client)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        # Front door first, so no new work arrives while the back end drains.
        for name in reversed(list(self.processes)):
            self.processes[name].stop()

    def __enter__(self) -> Mesh:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
