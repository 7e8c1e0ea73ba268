"""Settings of the llm-proxy (env prefix ``CODELAB_LLM_PROXY_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from codelab_common.settings import JwtSettings, ServiceSettings


class LlmProxySettings(ServiceSettings, JwtSettings):
    """Where the proxy listens, which tokens it accepts, and where its model list lives."""

    model_config = SettingsConfigDict(env_prefix="CODELAB_LLM_PROXY_", extra="ignore")

    port: int = Field(
        default=8084,
        description="Port to listen on.",
    )
    config_path: Path | None = Field(
        default=None,
        description="litellm-format YAML with a `model_list`; without it no model is served.",
    )
    audience: str = Field(
        default="codelab-llm-proxy",
        description="The `aud` accepted tokens must carry.",
    )
    required_scope: str = Field(
        default="llm:invoke",
        description="Scope every /v1 call needs.",
    )
    request_timeout: float = Field(
        default=120.0,
        gt=0,
        description=(
            "Per-attempt and total deadline and stream idle limit in seconds, "
            "unless the config's router sets them."
        ),
    )
    num_retries: int = Field(
        default=0,
        ge=0,
        description=(
            "Retries per deployment on retryable errors, unless the config's router.retries is set."
        ),
    )
    max_connections: int = Field(
        default=1000,
        ge=1,
        description="Pooled connections of the fast path to OpenAI-speaking providers.",
    )
    redis_url: str | None = Field(
        default=None,
        description=(
            "Redis for breaker state shared by replicas, the exact cache, rate limits and "
            "budgets; unset: per-replica breakers, no exact cache, no limits or budgets."
        ),
    )
    redis_prefix: str = Field(
        default="codelab:", description="Prefix of every Redis key; tests give each run its own."
    )
    cache_ttl: float = Field(
        default=3600.0, gt=0, description="Seconds an exact-cache entry lives (needs redis_url)."
    )
    cache_enabled: bool = Field(
        default=True, description="Cache deterministic requests in Redis (needs redis_url)."
    )
    semantic_cache_embedding_model: str | None = Field(
        default=None,
        description=(
            "Model name (from the model list) that embeds the last user turn for the semantic "
            "cache; unset: no semantic cache."
        ),
    )
    semantic_cache_threshold: float = Field(
        default=0.95,
        gt=0,
        le=1,
        description="Cosine similarity at or above which a semantic-cache entry is served.",
    )
    semantic_cache_url: str | None = Field(
        default=None,
        description="Qdrant server URL for the semantic cache; unset: Qdrant local mode.",
    )
    semantic_cache_path: str = Field(
        default="",
        description=(
            "Qdrant local-mode storage: a directory, ':memory:', or empty for data_dir/qdrant."
        ),
    )
    semantic_cache_collection: str = Field(
        default="llm_proxy_semantic_cache", description="Qdrant collection of the semantic cache."
    )
    semantic_cache_ttl: float = Field(
        default=3600.0, gt=0, description="Seconds a semantic-cache entry is served."
    )
    semantic_cache_deterministic_only: bool = Field(
        default=True,
        description=(
            "Use the semantic cache only for requests the exact cache would accept "
            "(temperature 0 or cache: true)."
        ),
    )
    admin_scope: str = Field(
        default="llm:admin",
        description="Scope that may read anyone's usage and administer the cache.",
    )
    data_dir: Path = Field(
        default=Path("./data"),
        description="Directory for the SQLite ledger when no database URL is set.",
    )
    database_url: str = Field(
        default="",
        description="SQLAlchemy async URL of the usage ledger; empty: SQLite in data_dir.",
    )
    ledger_enabled: bool = Field(
        default=True, description="Record every call in the usage ledger database."
    )
    max_in_flight: int = Field(
        default=1000,
        ge=0,
        description="Model calls in flight before new ones get 503 + Retry-After (0: no limit).",
    )
    config_watch_interval: float = Field(
        default=2.0,
        ge=0,
        description="Seconds between checks of the config file for changes (0: SIGHUP only).",
    )
    jwks_timeout: float = Field(default=5.0, gt=0, description="Seconds to wait for auth's JWKS.")

    @model_validator(mode="after")
    def _default_database_url(self) -> LlmProxySettings:
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{self.data_dir / 'llm-proxy.db'}"
        return self
