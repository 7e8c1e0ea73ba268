"""Gateway settings, read from ``CODELAB_GATEWAY_*`` environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from codelab_common.settings import JwtSettings, RedisSettings, ServiceSettings


class GatewaySettings(ServiceSettings, RedisSettings, JwtSettings):
    """Everything the gateway needs: where it listens, Redis, token verification, limits."""

    model_config = SettingsConfigDict(env_prefix="CODELAB_GATEWAY_", extra="ignore")

    port: int = Field(
        default=8082,
        description="Port to listen on.",
    )
    audience: str = Field(
        default="codelab-gateway",
        description="The `aud` accepted tokens must carry.",
    )
    public_url: str = Field(
        default="http://localhost:8080",
        description="Base URL(s) clients use to reach the gateway (through nginx), comma-"
        "separated; DPoP proofs must name one of them (htu).",
    )
    allow_query_token: bool = Field(
        default=True,
        description="Accept ?access_token= on the /acp upgrade (for clients that cannot set "
        "headers). Query strings reach access logs; prefer the Authorization header.",
    )
    max_message_bytes: int = Field(
        default=1024 * 1024, gt=0, description="Larger frames close the socket with 4413."
    )
    session_create_timeout: float = Field(
        default=10.0, gt=0, description="Seconds POST /v1/sessions waits for the runtime."
    )
    notice: str = Field(
        default="",
        description="A line every client shows on connect (initialize _meta.codelab.notice).",
    )

    @property
    def public_urls(self) -> list[str]:
        """Every configured public base URL, without a trailing slash."""
        return [u.strip().rstrip("/") for u in self.public_url.split(",") if u.strip()]

    sse_keepalive_seconds: int = Field(
        default=15, gt=0, description="Seconds between SSE keepalive comments."
    )
    relay_block_ms: int = Field(
        default=5000,
        gt=0,
        description="How long one blocking read of an output stream waits before looping.",
    )
