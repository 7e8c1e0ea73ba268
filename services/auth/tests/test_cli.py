"""``codelab-auth`` commands against a temp database, then checked through the API."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import pytest

from codelab_auth.cli import main


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The CLI reads the same env vars as the service; point them at a temp DB."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    for name, value in {
        "CODELAB_AUTH_DATABASE_URL": url,
        "CODELAB_AUTH_KEY_ENCRYPTION_SECRET": "test-key-encryption-secret",
        "CODELAB_AUTH_ARGON2_TIME_COST": "1",
        "CODELAB_AUTH_ARGON2_MEMORY_KIB": "1024",
        "CODELAB_AUTH_ARGON2_PARALLELISM": "1",
    }.items():
        monkeypatch.setenv(name, value)
    return url


RUNTIME_ARGS = [
    "create-client",
    "codelab-runtime",
    "--scope",
    "llm:invoke",
    "--audience",
    "codelab-llm-proxy",
    "--grant",
    "client_credentials",
]


async def _client_token(boot: Any, url: str, secret: str) -> dict[str, Any]:
    async with boot(url) as harness:
        response = await harness.token(
            auth=("codelab-runtime", secret), grant_type="client_credentials"
        )
        assert response.status_code == 200, response.text
        claims: dict[str, Any] = harness.claims(response.json()["access_token"])
        return claims


def test_create_client_is_idempotent(
    cli_env: str, boot: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*RUNTIME_ARGS, "--secret", "first-secret"]) == 0
    assert main([*RUNTIME_ARGS, "--secret", "first-secret"]) == 0
    out = capsys.readouterr().out
    assert "created client codelab-runtime" in out
    assert "updated client codelab-runtime" in out
    assert "first-secret" not in out
    claims = asyncio.run(_client_token(boot, cli_env, "first-secret"))
    assert (claims["aud"], claims["scope"]) == ("codelab-llm-proxy", "llm:invoke")

    # Re-running with a new secret on stdin and a new scope updates the same client.
    monkeypatch.setattr("sys.stdin", io.StringIO("second-secret\n"))
    args = [*RUNTIME_ARGS, "--secret-stdin"]
    args[args.index("llm:invoke")] = "llm:invoke sessions:read"
    assert main(args) == 0
    claims = asyncio.run(_client_token(boot, cli_env, "second-secret"))
    assert set(claims["scope"].split()) == {"llm:invoke", "sessions:read"}


def test_create_user_and_seed_demo(
    cli_env: str, boot: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate"]) == 0
    assert main(["seed-demo"]) == 0
    assert main(["create-user", "carol", "--role", "admin", "--password", "carol-pw"]) == 0

    async def login() -> dict[str, Any]:
        async with boot(cli_env) as harness:
            return harness.claims((await harness.login("carol", "carol-pw"))["access_token"])

    claims = asyncio.run(login())
    assert claims["roles"] == ["admin"]
    assert claims["scope"] == "sessions:read sessions:write"  # codelab-cli's scopes only
    assert "carol-pw" not in capsys.readouterr().out


def test_rotate_key_prints_the_new_kid(cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rotate-key"]) == 0
    assert main(["rotate-key"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len({line.split()[-1] for line in lines}) == 2


def test_invalid_input_exits_2(cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*RUNTIME_ARGS]) == 2  # a new confidential client without a secret
    assert (
        main(
            [
                "create-client",
                "x",
                "--scope",
                "bogus",
                "--audience",
                "a",
                "--grant",
                "client_credentials",
                "--secret",
                "s",
            ]
        )
        == 2
    )
    assert "unknown scopes: bogus" in capsys.readouterr().err


def test_keys_rotate_and_list(cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "rotate"]) == 0
    new_kid = capsys.readouterr().out.split()[-1]
    assert main(["keys", "list"]) == 0
    table = [line.split() for line in capsys.readouterr().out.splitlines()]
    statuses = {kid: status for kid, status, _ in table}
    assert statuses[new_kid] == "active"
    assert sorted(statuses.values()) == ["active", "retired"]
    assert main(["keys", "rotate", "--drop-previous"]) == 0
    capsys.readouterr()
    assert main(["keys", "list"]) == 0
    statuses = {row[0]: row[1] for row in map(str.split, capsys.readouterr().out.splitlines())}
    assert sorted(statuses.values()) == ["active", "expired", "expired"]
    assert main(["keys", "maintain"]) == 0


def test_totp_enroll_prints_uri_and_recovery_codes(
    cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["create-user", "tina", "--role", "viewer", "--password", "tina-pw"]) == 0
    assert main(["totp", "enroll", "tina"]) == 0
    out = capsys.readouterr().out
    assert "otpauth://totp/CodeLab:tina?" in out
    assert len([line for line in out.splitlines() if line.startswith("  ") and "-" in line]) == 10
    assert main(["totp", "disable", "tina"]) == 0
    assert main(["totp", "enroll", "nobody"]) == 2
