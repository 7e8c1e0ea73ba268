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

    port: int = Field(
        default=8083,
        description="Port to listen on (probes and metrics only).",
    )
    data_dir: Path = Field(
        default=Path("./data"),
        description="Directory for the SQLite file when no database URL is set.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL; default sqlite+aiosqlite:///{data_dir}/runtime.db",
    )
    llm_proxy_url: str = Field(
        default="http://127.0.0.1:8084/v1",
        description="OpenAI-compatible base URL of the llm-proxy.",
    )
    token_url: str = Field(
        default="http://127.0.0.1:8081/oauth/token",
        description="auth's token endpoint (client-credentials grant).",
    )
    client_id: str = Field(
        default="codelab-runtime",
        description="The runtime's OAuth client id.",
    )
    client_secret: SecretStr | None = Field(
        default=None,
        description="The runtime's OAuth client secret; unset: no token is sent.",
    )
    token_scope: str = Field(
        default="llm:invoke",
        description="Scope requested for llm-proxy tokens.",
    )
    token_resource: str = Field(
        default="codelab-llm-proxy",
        description="RFC 8707 resource (audience) requested for llm-proxy tokens.",
    )
    model: str = Field(
        default="codelab-default",
        description="Model name asked of the llm-proxy.",
    )
    llm_timeout_s: float = Field(
        default=120.0,
        description="Seconds one model call may take.",
    )
    # Kill switch (as pydantic-ai's ALLOW_MODEL_REQUESTS): unit tests turn it off so a
    # misconfigured test fails loudly instead of calling a network model.
    allow_model_requests: bool = Field(
        default=True,
        description="Kill switch: false makes every model call fail (unit tests).",
    )
    instance_id: str = Field(
        default_factory=lambda: f"rt-{uuid.uuid4().hex[:12]}",
        description="Names this replica in leases and logs (random by default).",
    )
    lease_ttl_ms: int = Field(
        default=15_000,
        description="Session lease lifetime; a crashed replica's sessions move after ~this.",
    )
    idle_release_s: float = Field(
        default=300.0,
        description="Release a session after this many idle seconds.",
    )
    wakeup_block_ms: int = Field(
        default=1_000,
        description="One blocking read of the wakeup stream.",
    )
    max_model_calls_per_turn: int = Field(
        default=25,
        description="Ends a turn with stopReason max_turn_requests.",
    )
    max_tool_calls_per_turn: int = Field(
        default=100,
        description="Ends a turn (stopReason max_turn_requests) after this many tool calls.",
    )
    price_input_per_mtok: float = Field(
        default=0.0,
        description=(
            "USD per million prompt tokens of the configured model, for cost limits when the "
            "llm-proxy does not report a call's cost (it does: its ledger's figure)."
        ),
    )
    price_output_per_mtok: float = Field(
        default=0.0,
        description=(
            "USD per million completion tokens, when the llm-proxy does not report the cost."
        ),
    )
    max_cost_usd_per_turn: float | None = Field(
        default=None,
        description="Ends a turn (max_turn_requests) once it has cost this much; unset: no limit.",
    )
    debug_may_edit: bool = Field(
        default=False,
        description="Let the Debug agent edit files (it only proposes fixes otherwise).",
    )
    agents_file: Path | None = Field(
        default=None,
        description="TOML file declaring custom agents (modes); validated at start-up.",
    )
    command_timeout_s: float = Field(
        default=120.0,
        description="Seconds an execute_command may take before it is killed.",
    )
    tool_output_limit_bytes: int = Field(
        default=64_000,
        description="Tool results beyond this are truncated, with a note to the model.",
    )
    command_allow: list[str] = Field(
        default_factory=list,
        description='Command prefixes run without asking (JSON list, e.g. ["git status", "ls"]).',
    )
    command_deny: list[str] = Field(
        default_factory=list,
        description="Command prefixes always refused; the longest matching prefix wins.",
    )
    edit_auto_approve: list[str] = Field(
        default_factory=list,
        description="Path globs (relative to the workspace) edited without asking.",
    )
    context_window_tokens: int | None = Field(
        default=None,
        gt=0,
        description=(
            "Context window of the configured model, in tokens; unset: as the llm-proxy says "
            "(GET /v1/models/{model}, asked until it answers; 32000 meanwhile)."
        ),
    )
    condense_at_ratio: float = Field(
        default=0.8,
        description="Condense older turns when the context reaches this share of the window.",
    )
    condense_model: str | None = Field(
        default=None,
        description="Model used for condensing summaries (default: the main model).",
    )
    default_mode: str = Field(
        default="orchestrator",
        description="The agent a new session starts with.",
    )

    def resolved_database_url(self) -> str:
        """The configured URL, or the embedded SQLite file under ``data_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'runtime.db'}"
