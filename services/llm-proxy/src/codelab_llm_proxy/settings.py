"""Settings of the llm-proxy (env prefix ``CODELAB_LLM_PROXY_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
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
        default=120.0, gt=0, description="Seconds a provider call (or stream) may take."
    )
    num_retries: int = Field(
        default=0, ge=0, description="Retries of a failed provider call inside one deployment pool."
    )
    jwks_timeout: float = Field(default=5.0, gt=0, description="Seconds to wait for auth's JWKS.")
