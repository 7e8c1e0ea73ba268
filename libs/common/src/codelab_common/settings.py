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

    host: str = "127.0.0.1"
    port: int = 8080
    log_level: str = "INFO"
    log_json: bool = True
    otel_enabled: bool = False
    otlp_endpoint: str = "http://127.0.0.1:4318"


class RedisSettings(BaseSettings):
    """Connection to the Redis that carries session streams, the registry and leases."""

    model_config = SettingsConfigDict(env_prefix="CODELAB_", extra="ignore")

    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str = Field(
        default="codelab:",
        description="Prefix of every Redis key; tests give each run its own.",
    )


class JwtSettings(BaseSettings):
    """What a resource server needs to verify access tokens issued by services/auth."""

    model_config = SettingsConfigDict(env_prefix="CODELAB_", extra="ignore")

    jwks_url: str = "http://127.0.0.1:8081/.well-known/jwks.json"
    issuer: str = "http://localhost:8080/auth"


def secret_value(secret: SecretStr | None) -> str | None:
    """Unwrap a secret at the last moment, so it is never formatted into a log line."""
    return secret.get_secret_value() if secret is not None else None
