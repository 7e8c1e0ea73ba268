"""Where the CLI reads its environment: server URL, login defaults, config directory."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SERVER = "http://localhost:8080"


class ClientSettings(BaseSettings):
    """The CLI's environment; the only place the process environment is read."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    server: str = Field(
        default=DEFAULT_SERVER, validation_alias="CODELAB_SERVER", description="CodeLab URL."
    )
    username: str | None = Field(
        default=None, validation_alias="CODELAB_USERNAME", description="Login name."
    )
    password: SecretStr | None = Field(
        default=None, validation_alias="CODELAB_PASSWORD", description="Login password."
    )
    config_dir_override: Path | None = Field(
        default=None,
        validation_alias="CODELAB_CONFIG_DIR",
        description="Where credentials.json lives.",
    )
    xdg_config_home: Path | None = Field(
        default=None,
        validation_alias="XDG_CONFIG_HOME",
        description="Else $XDG_CONFIG_HOME/codelab",
    )
    home: Path | None = Field(
        default=None, validation_alias="HOME", description="Else ~/.config/codelab."
    )
    no_color: bool = Field(
        default=False,
        validation_alias=AliasChoices("NO_COLOR", "CODELAB_NO_COLOR"),
        description="Plain output without ANSI colours.",
    )

    dpop: bool = Field(
        default=True,
        validation_alias="CODELAB_DPOP",
        description="Bind tokens to this install's key (RFC 9449); 0 for plain bearer tokens.",
    )

    @property
    def config_dir(self) -> Path:
        """``$CODELAB_CONFIG_DIR``, or ``$XDG_CONFIG_HOME/codelab``, or ``~/.config/codelab``."""
        if self.config_dir_override is not None:
            return self.config_dir_override
        if self.xdg_config_home is not None:
            return self.xdg_config_home / "codelab"
        return (self.home or Path.home()) / ".config" / "codelab"


def acp_url(server: str) -> str:
    """``http://host:8080`` → ``ws://host:8080/acp`` (``https`` → ``wss``)."""
    base = server.rstrip("/")
    if base.startswith("https://"):
        base = "wss://" + base.removeprefix("https://")
    elif base.startswith("http://"):
        base = "ws://" + base.removeprefix("http://")
    return base if base.endswith("/acp") else f"{base}/acp"


def acp_http_url(server: str) -> str:
    """``{server}/acp`` in its http(s) form: what a DPoP proof for the upgrade names."""
    base = server.rstrip("/")
    return base if base.endswith("/acp") else f"{base}/acp"
