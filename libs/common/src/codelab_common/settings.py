"""Settings base shared by every service.

Each service subclasses :class:`ServiceSettings` and sets its own ``env_prefix``
(``CODELAB_AUTH_``, ``CODELAB_GATEWAY_`` ...). Settings are the only place where
the process environment is read.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Fields every service has: where it listens, how it logs, how it traces."""

    model_config = SettingsConfigDict(env_prefix="CODELAB_", extra="ignore")

    host: str = Field(default="127.0.0.1", description="Address to listen on.")
    port: int = Field(default=8080, description="Port to listen on.")
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR.")
    log_json: bool = Field(default=True, description="One JSON object per log line (else text).")
    otel_enabled: bool = Field(
        default=False,
        description="Export OpenTelemetry traces over OTLP/HTTP.",
    )
    otlp_endpoint: str = Field(
        default="http://127.0.0.1:4318", description="OTLP/HTTP collector endpoint."
    )


class RedisSettings(BaseSettings):
    """Connection to the Redis that carries session streams, the registry and leases."""

    model_config = SettingsConfigDict(env_prefix="CODELAB_", extra="ignore")

    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        description="Redis carrying session streams, the session registry and leases.",
    )
    redis_prefix: str = Field(
        default="codelab:",
        description="Prefix of every Redis key; tests give each run its own.",
    )
    session_retention_days: float = Field(
        default=0,
        ge=0,
        description=(
            "Drop a session's registry entry and streams from Redis after this many days "
            "without input or output (its history stays in the runtime database, but it can "
            "no longer be resumed through the gateway); 0 keeps them forever."
        ),
    )

    @property
    def session_retention_ms(self) -> int:
        return int(self.session_retention_days * 86_400_000)


class JwtSettings(BaseSettings):
    """What a resource server needs to verify access tokens issued by services/auth."""

    model_config = SettingsConfigDict(env_prefix="CODELAB_", extra="ignore")

    jwks_url: str = Field(
        default="http://127.0.0.1:8081/.well-known/jwks.json",
        description="Where auth publishes its signing keys (cached; refetched on a new kid).",
    )
    issuer: str = Field(
        default="http://localhost:8080/auth",
        description="The `iss` every accepted token must carry (auth's public URL).",
    )


def secret_value(secret: SecretStr | None) -> str | None:
    """Unwrap a secret at the last moment, so it is never formatted into a log line."""
    return secret.get_secret_value() if secret is not None else None
