"""Secrets never reach a log line."""

from __future__ import annotations

import json
import logging

import pytest

from codelab_common.logging import JsonFormatter, correlation_id_var, redact


@pytest.mark.parametrize(
    "text",
    [
        "Authorization: Bearer abc.def.ghi",
        "token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl",
        "password=hunter2&username=demo",
        '{"client_secret": "s3cr3t-value"}',
        "refresh_token=rt_123456",
    ],
)
def test_redact_masks_credentials(text: str) -> None:
    masked = redact(text)
    for secret in ("abc.def.ghi", "eyJhbGciOiJSUzI1NiJ9", "hunter2", "s3cr3t-value", "rt_123456"):
        assert secret not in masked
    assert "[REDACTED]" in masked


def test_json_formatter_carries_ids_and_redacts_extras() -> None:
    token = correlation_id_var.set("turn-1")
    try:
        record = logging.makeLogRecord(
            {"msg": "login for %s", "args": ("demo",), "levelname": "INFO", "name": "t"}
        )
        record.header = "Bearer secret-token-value"
        line = json.loads(JsonFormatter("auth").format(record))
    finally:
        correlation_id_var.reset(token)
    assert line["message"] == "login for demo"
    assert line["correlation_id"] == "turn-1"
    assert line["service"] == "auth"
    assert "secret-token-value" not in json.dumps(line)
