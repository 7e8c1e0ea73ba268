"""Configuration of the auth service (env prefix ``CODELAB_AUTH_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from codelab_auth.rotation import RotationPolicy
from codelab_auth.throttle import ThrottlePolicy
from codelab_common.settings import ServiceSettings

# Only good enough for a laptop: anyone who reads this file can decrypt the signing keys.
DEV_KEY_ENCRYPTION_SECRET = "codelab-dev-insecure-key-encryption-secret"


class AuthSettings(ServiceSettings):
    """Where the auth service listens, what it stores where, and how long tokens live."""

    model_config = SettingsConfigDict(env_prefix="CODELAB_AUTH_", extra="ignore")

    port: int = Field(
        default=8081,
        description="Port to listen on.",
    )
    data_dir: Path = Field(
        default=Path("./data"),
        description="Directory for the SQLite file when no database URL is set.",
    )
    database_url: str = Field(
        default="",
        description="SQLAlchemy async URL; empty means sqlite+aiosqlite:///{data_dir}/auth.db.",
    )
    issuer: str = Field(
        default="http://localhost:8080/auth",
        description="The PUBLIC base URL of this service (through nginx, which strips /auth).",
    )
    key_encryption_secret: SecretStr = Field(
        default=SecretStr(DEV_KEY_ENCRYPTION_SECRET),
        description="Encrypts signing keys at rest; the default is for development only.",
    )
    access_token_ttl: int = Field(default=900, gt=0, description="Seconds.")
    refresh_token_ttl: int = Field(
        default=30 * 24 * 3600,
        gt=0,
        description="Seconds a refresh token stays usable if not used (sliding, per token).",
    )
    session_max_age: int = Field(
        default=90 * 24 * 3600,
        gt=0,
        description="Absolute lifetime (seconds) of a login: no refresh beyond it, however "
        "often the token is rotated.",
    )
    authorization_code_ttl: int = Field(
        default=60,
        gt=0,
        le=600,
        description="Seconds an authorization code may wait for its exchange (RFC 6749: "
        "at most 10 minutes).",
    )
    key_cache_ttl: float = Field(
        default=30.0,
        ge=0,
        description="Seconds between re-reads of the signing keys (picks up `keys rotate`).",
    )
    device_code_ttl: int = Field(
        default=600, gt=0, le=3600, description="Seconds a device code (RFC 8628) stays valid."
    )
    device_poll_interval: int = Field(
        default=5, ge=0, le=60, description="Seconds a device must wait between token polls."
    )
    key_rotation_interval: int = Field(
        default=30 * 24 * 3600,
        ge=0,
        description="Scheduled rotation: age (seconds) at which the signing key is replaced; "
        "0 disables it (then only `codelab-auth keys rotate`).",
    )
    key_publish_ahead: int = Field(
        default=3600,
        ge=0,
        description="Seconds a new key is published in the JWKS before it signs (must exceed "
        "how long verifiers cache the JWKS).",
    )
    key_check_interval: float = Field(
        default=60.0,
        gt=0,
        description="Seconds between checks whether a scheduled key-rotation step is due.",
    )
    redis_url: str = Field(
        default="",
        description="Redis for the failed-login counters and used DPoP proofs shared by "
        "replicas; empty keeps them in-process (fine for one process only).",
    )
    redis_prefix: str = Field(default="codelab:", description="Prefix of every Redis key.")
    login_account_threshold: int = Field(
        default=5, ge=1, description="Failed logins per account before it is locked out."
    )
    login_ip_threshold: int = Field(
        default=20,
        ge=0,
        description="Failed logins per client address before it is locked out; 0 disables the "
        "per-address counter (do that when the service cannot see real client addresses).",
    )
    login_failure_window: int = Field(
        default=900, gt=0, description="Seconds a failed login counts against account and IP."
    )
    login_backoff_base: float = Field(
        default=1.0, gt=0, description="First lockout (seconds); doubles with each failure."
    )
    login_lockout_max: float = Field(default=900.0, gt=0, description="Longest lockout (seconds).")
    seed_demo: bool = Field(
        default=False,
        description="Create user demo/demo and client codelab-cli on start (local only).",
    )
    # argon2id cost (argon2-cffi defaults = RFC 9106 low-memory profile). Hashes carry
    # their own parameters, so lowering or raising these never breaks stored hashes.
    argon2_time_cost: int = Field(default=3, ge=1, description="argon2id passes.")
    argon2_memory_kib: int = Field(default=64 * 1024, ge=8, description="argon2id memory (KiB).")
    argon2_parallelism: int = Field(default=4, ge=1, description="argon2id lanes.")

    @model_validator(mode="after")
    def _default_database_url(self) -> AuthSettings:
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{self.data_dir / 'auth.db'}"
        self.issuer = self.issuer.rstrip("/")
        return self

    @property
    def uses_dev_secret(self) -> bool:
        """True when the key-encryption secret is the published development default."""
        return self.key_encryption_secret.get_secret_value() == DEV_KEY_ENCRYPTION_SECRET

    @property
    def rotation_policy(self) -> RotationPolicy:
        """The key lifecycle; a retired key outlives the last token it signed by 5 min."""
        return RotationPolicy(
            interval=self.key_rotation_interval,
            publish_ahead=min(self.key_publish_ahead, self.key_rotation_interval),
            retire_after=self.access_token_ttl + 300,
        )

    @property
    def throttle_policy(self) -> ThrottlePolicy:
        """Brute-force protection thresholds."""
        return ThrottlePolicy(
            account_threshold=self.login_account_threshold,
            ip_threshold=self.login_ip_threshold,
            window=self.login_failure_window,
            base=self.login_backoff_base,
            max_lock=self.login_lockout_max,
        )
