"""Runtime configuration (env prefix ``CODELAB_RUNTIME_``)."""

from __future__ import annotations

import uuid
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from codelab_common.settings import RedisSettings, ServiceSettings


class RuntimeSettings(ServiceSettings, RedisSettings):
    """Everything the agent runtime reads from the environment."""

    model_config = SettingsConfigDict(env_prefix="CODELAB_RUNTIME_", extra="ignore")

    port: int = 8083
    data_dir: Path = Path("./data")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL; default sqlite+aiosqlite:///{data_dir}/runtime.db",
    )
    llm_proxy_url: str = "http://127.0.0.1:8084/v1"
    token_url: str = "http://127.0.0.1:8081/oauth/token"
    client_id: str = "codelab-runtime"
    client_secret: SecretStr | None = None
    token_scope: str = "llm:invoke"
    token_resource: str = "codelab-llm-proxy"
    model: str = "codelab-default"
    llm_timeout_s: float = 120.0
    # Kill switch (as pydantic-ai's ALLOW_MODEL_REQUESTS): unit tests turn it off so a
    # misconfigured test fails loudly instead of calling a network model.
    allow_model_requests: bool = True
    instance_id: str = Field(default_factory=lambda: f"rt-{uuid.uuid4().hex[:12]}")
    lease_ttl_ms: int = 15_000
    idle_release_s: float = 300.0
    wakeup_block_ms: int = 1_000
    max_model_calls_per_turn: int = 25
    command_timeout_s: float = 120.0
    tool_output_limit_bytes: int = 64_000
    default_mode: str = "orchestrator"

    def resolved_database_url(self) -> str:
        """The configured URL, or the embedded SQLite file under ``data_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'runtime.db'}"
