"""TOTP second factor (RFC 6238) with recovery codes: password grant and login page."""

from __future__ import annotations

import time
from typing import Any

import pytest
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP
from sqlalchemy import select

from codelab_auth.adapters.models import User
from codelab_auth.second_factor import disable_totp, enroll_totp
from codelab_auth.totp import Enrollment

from .conftest import REDIRECT, browser_for, parse_form


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


async def _enroll(auth: Any, username: str) -> tuple[Enrollment, TOTP]:
    async with auth.context.sessions.begin() as session:
        enrollment = await enroll_totp(session, auth.context.policy.totp, username)
    async with auth.context.sessions() as session:
        user = await session.scalar(select(User).where(User.username == username))
    assert user is not None
    assert user.totp_secret is not None
    assert "otpauth://totp/CodeLab:" in enrollment.provisioning_uri
    secret = auth.context.policy.totp.secret(user.totp_secret)
    return enrollment, TOTP(secret, 6, SHA1(), 30)


async def _grant(auth: Any, otp: str | None) -> dict[str, Any]:
    form = {
        "grant_type": "password",
        "username": "alice",
        "password": "alice-password",
        "client_id": "codelab-cli",
    }
    if otp is not None:
        form["otp"] = otp
    body: dict[str, Any] = (await auth.token(**form)).json()
    return body


async def test_password_grant_needs_a_fresh_code(auth: Any) -> None:
    enrollment, totp = await _enroll(auth, "alice")
    assert (await _grant(auth, None))["error_description"] == "Invalid username or password."
    assert (await _grant(auth, "000000"))["error"] == "invalid_grant"
    code = totp.generate(time.time()).decode()
    assert "access_token" in await _grant(auth, code)
    assert (await _grant(auth, code))["error"] == "invalid_grant"  # a code works once
    recovery = enrollment.recovery_codes[0]
    assert "access_token" in await _grant(auth, recovery.upper())
    assert (await _grant(auth, recovery))["error"] == "invalid_grant"  # once, too
    async with auth.context.sessions.begin() as session:
        await disable_totp(session, "alice")
    assert "access_token" in await _grant(auth, None)


async def test_login_page_takes_the_code(auth: Any) -> None:
    _, totp = await _enroll(auth, "alice")
    params = {
        "response_type": "code",
        "client_id": "codelab-cli",
        "redirect_uri": REDIRECT,
        "code_challenge": "a" * 43,
        "code_challenge_method": "S256",
    }
    async with browser_for(auth.app) as browser:
        page = await browser.get("/oauth/authorize", params=params)
        assert 'autocomplete="one-time-code"' in page.text
        data = {
            **parse_form(page.text).fields,
            "username": "alice",
            "password": "alice-password",
            "decision": "allow",
        }
        missing = await browser.post("/oauth/authorize", data=data)
        assert missing.status_code == 401
        data.update(parse_form(missing.text).fields)
        data["otp"] = totp.generate(time.time()).decode()
        done = await browser.post("/oauth/authorize", data=data)
        assert done.status_code == 302
        assert "code=" in done.headers["location"]
