"""Passwords, client secrets, tokens and hashes never reach the logs."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from codelab_common.logging import JsonFormatter

RUNTIME = ("codelab-runtime", "runtime-secret-value")


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """Logging does not depend on the database engine: SQLite only."""
    return sqlite_url


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter("auth"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def captured_logs() -> Iterator[_Capture]:
    handler = _Capture()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


async def test_no_password_secret_or_token_is_logged(auth: Any, captured_logs: _Capture) -> None:
    await auth.add_user("dave", "dave-password", ["viewer"])  # an INSERT with a hash
    tokens = await auth.login("alice", "alice-password")
    refreshed = await auth.token(
        grant_type="refresh_token", client_id="codelab-cli", refresh_token=tokens["refresh_token"]
    )
    await auth.token(
        grant_type="refresh_token", client_id="codelab-cli", refresh_token=tokens["refresh_token"]
    )  # reuse → warning log
    service = await auth.token(auth=RUNTIME, grant_type="client_credentials")
    logs = "\n".join(captured_logs.lines)
    assert "audit: token_issued success" in logs
    assert "refresh-token family revoked" in logs
    assert "$argon2" not in logs
    for secret in (
        "alice-password",
        RUNTIME[1],
        tokens["access_token"],
        tokens["refresh_token"],
        refreshed.json()["refresh_token"],
        service.json()["access_token"],
    ):
        assert secret not in logs
