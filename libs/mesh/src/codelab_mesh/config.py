"""What a local mesh consists of: ports, stores, secrets, replicas."""

from __future__ import annotations

import secrets
from pathlib import Path

from pydantic import BaseModel, Field


class MeshConfig(BaseModel):
    """Everything needed to start one mesh; `make run` and the e2e suite differ only here."""

    root: Path = Field(description="the repository root (for deploy/ templates)")
    data_dir: Path = Field(description="SQLite files, secrets, the local model cache")
    run_dir: Path = Field(description="rendered configs, pid files, logs")
    host: str = "127.0.0.1"
    public_host: str = "localhost"
    nginx_port: int = 8080
    auth_port: int = 8081
    gateway_ports: list[int] = Field(default_factory=lambda: [8082])
    runtime_ports: list[int] = Field(default_factory=lambda: [8083])
    llm_proxy_port: int = 8084
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str = "codelab:"
    auth_database_url: str | None = None
    runtime_database_url: str | None = None
    llm_proxy_database_url: str | None = None
    llm_config_path: Path | None = None
    seed_demo: bool = True
    notice: str = Field(default="", description="shown by every client on connect")
    log_json: bool = True
    extra_env: dict[str, str] = Field(default_factory=dict)

    @property
    def public_url(self) -> str:
        return f"http://{self.public_host}:{self.nginx_port}"

    @property
    def public_urls(self) -> list[str]:
        """The entry's URL under every name a local client may use for it."""
        hosts = [self.public_host]
        if self.public_host in ("localhost", "127.0.0.1"):
            hosts = ["localhost", "127.0.0.1"]
        return [f"http://{host}:{self.nginx_port}" for host in hosts]

    @property
    def issuer(self) -> str:
        return f"{self.public_url}/auth"

    @property
    def auth_url(self) -> str:
        return f"http://{self.host}:{self.auth_port}"

    @property
    def llm_proxy_url(self) -> str:
        return f"http://{self.host}:{self.llm_proxy_port}"

    def sqlite_url(self, name: str) -> str:
        return f"sqlite+aiosqlite:///{self.data_dir / name}"

    def persistent_secret(self, name: str) -> str:
        """A random secret kept in the data dir (0600), so restarts reuse it."""
        path = self.data_dir / "secrets" / name
        if path.exists():
            return path.read_text().strip()
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        value = secrets.token_urlsafe(32)
        path.touch(mode=0o600)
        path.write_text(value)
        return value
