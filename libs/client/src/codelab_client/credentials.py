"""The on-disk token store: ``credentials.json`` (0600) in the user's config dir (0700)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, ValidationError

CREDENTIALS_FILE = "credentials.json"
LOCK_FILE = "credentials.lock"


class Credentials(BaseModel):
    """Tokens for one server. ``SecretStr`` keeps them out of reprs and logs."""

    access_token: SecretStr
    refresh_token: SecretStr | None = None
    token_type: str = "Bearer"  # "DPoP" when bound to this install's key (RFC 9449)
    expires_at: float = Field(description="Unix time the access token expires")
    token_endpoint: str
    username: str | None = None
    scope: str | None = None

    def expires_within(self, seconds: float) -> bool:
        return self.expires_at - time.time() < seconds

    def to_json(self) -> dict[str, object]:
        data = self.model_dump(mode="json")
        data["access_token"] = self.access_token.get_secret_value()
        data["refresh_token"] = (
            self.refresh_token.get_secret_value() if self.refresh_token is not None else None
        )
        return data


class CredentialStore:
    """Credentials per server URL in one JSON file, written atomically with mode 0600.

    A file lock serialises read-refresh-write across processes: refresh tokens rotate
    and reusing an old one revokes the whole family, so two ``codelab`` processes must
    never refresh with the same token.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / CREDENTIALS_FILE

    def _ensure_dir(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold an exclusive inter-process lock on the store."""
        self._ensure_dir()
        fd = os.open(self.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _read_all(self) -> dict[str, dict[str, object]]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        servers = raw.get("servers") if isinstance(raw, dict) else None
        return servers if isinstance(servers, dict) else {}

    def load(self, server: str) -> Credentials | None:
        entry = self._read_all().get(normalize_server(server))
        if entry is None:
            return None
        try:
            return Credentials.model_validate(entry)
        except ValidationError:
            return None

    def save(self, server: str, credentials: Credentials) -> None:
        self._ensure_dir()
        servers = self._read_all()
        servers[normalize_server(server)] = credentials.to_json()
        self._write({"version": 1, "servers": servers})

    def delete(self, server: str) -> None:
        servers = self._read_all()
        if servers.pop(normalize_server(server), None) is not None:
            self._write({"version": 1, "servers": servers})

    def _write(self, document: dict[str, object]) -> None:
        # Create the temp file 0600 from the start so the tokens are never world-readable,
        # then rename over the old file so a crash cannot leave half a file.
        tmp = self.path.with_suffix(".json.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), 0o600)
            json.dump(document, handle, indent=2)
        os.replace(tmp, self.path)


def normalize_server(server: str) -> str:
    return server.rstrip("/")
