"""Hostile and malformed requests: each refused with its RFC error code, nothing stored."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select

from codelab_auth.adapters.models import AuthorizationCode, DeviceCode, RefreshToken, RevokedToken

from .conftest import REDIRECT, browser_for, sign_in

STATEFUL = (RefreshToken, AuthorizationCode, RevokedToken, DeviceCode)


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


async def _counts(auth: Any) -> dict[str, int]:
    async with auth.context.sessions() as session:
        return {
            model.__tablename__: int(
                await session.scalar(select(func.count()).select_from(model)) or 0
            )
            for model in STATEFUL
        }


@pytest.fixture
async def nothing_stored(auth: Any) -> AsyncIterator[None]:
    """Fails the test if any token, code or revocation row appeared."""
    before = await _counts(auth)
    yield
    assert await _counts(auth) == before


def _error(response: Any, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.usefixtures("nothing_stored")
@pytest.mark.parametrize(
    ("body", "content_type", "status", "error"),
    [
        (b'{"grant_type": "password"}', "application/json", 400, "invalid_request"),
        (b"grant_type=password", "text/plain", 400, "invalid_request"),
        (
            b"--x\r\nContent-Disposition: form-data; name=a\r\n\r\nb\r\n--x--",
            "multipart/form-data; boundary=x",
            400,
            "invalid_request",
        ),
        (b"", "application/x-www-form-urlencoded", 400, "invalid_request"),
        (b"\xff\xfe\x00=%%%&&==", "application/x-www-form-urlencoded", 400, "invalid_request"),
        (
            b"grant_type=password&grant_type=password",
            "application/x-www-form-urlencoded",
            400,
            "invalid_request",
        ),
        (b"grant_type=magic", "application/x-www-form-urlencoded", 400, "unsupported_grant_type"),
        (
            b"grant_type=password&username=" + b"a" * 5000,
            "application/x-www-form-urlencoded",
            400,
            "invalid_request",
        ),
        (
            b"grant_type=client_credentials&client_id=nobody&client_secret=x",
            "application/x-www-form-urlencoded",
            400,  # authlib: 401 only when the client used the Authorization header
            "invalid_client",
        ),
        (
            b"grant_type=client_credentials&client_id=codelab-cli",
            "application/x-www-form-urlencoded",
            401,  # a public client cannot authenticate the way this grant requires
            "invalid_client",
        ),
        (
            # a confidential client using a grant it is not registered for
            b"grant_type=password&username=alice&password=alice-password"
            b"&client_id=codelab-runtime&client_secret=runtime-secret-value",
            "application/x-www-form-urlencoded",
            400,
            "unauthorized_client",
        ),
        (
            b"grant_type=refresh_token&client_id=codelab-cli&refresh_token=forged",
            "application/x-www-form-urlencoded",
            400,
            "invalid_grant",
        ),
        (
            b"grant_type=authorization_code&client_id=codelab-cli&code=forged&redirect_uri=x",
            "application/x-www-form-urlencoded",
            400,
            "invalid_grant",
        ),
    ],
)
async def test_token_endpoint_rejects(
    auth: Any, body: bytes, content_type: str, status: int, error: str
) -> None:
    response = await auth.http.post(
        "/oauth/token", content=body, headers={"Content-Type": content_type}
    )
    _error(response, status, error)


async def _code_and_verifier(auth: Any) -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    url = "/oauth/authorize?" + "&".join(
        [
            "response_type=code",
            "client_id=codelab-cli",
            f"redirect_uri={REDIRECT}",
            f"code_challenge={challenge.decode()}",
            "code_challenge_method=S256",
        ]
    )
    async with browser_for(auth.app) as browser:
        response = await sign_in(browser, url, "alice", "alice-password")
    code = response.headers["location"].split("code=")[1].split("&")[0]
    return code, verifier


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"redirect_uri": REDIRECT + "x"}, "invalid_grant"),  # off by one character
        ({"redirect_uri": REDIRECT[:-1]}, "invalid_grant"),
        ({"redirect_uri": REDIRECT.replace("53682", "53683")}, "invalid_grant"),
        ({"code_verifier": None}, "invalid_request"),  # PKCE dropped at the exchange
        ({"code_verifier": "short"}, "invalid_request"),
        ({"code_verifier": "PLAIN"}, "invalid_grant"),  # the challenge itself, as "plain"
        ({"client_id": "codelab-runtime"}, "invalid_client"),
    ],
)
async def test_code_exchange_rejects_and_stores_nothing(
    auth: Any, change: dict[str, str | None], error: str
) -> None:
    code, verifier = await _code_and_verifier(auth)
    form: dict[str, str | None] = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": "codelab-cli",
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
        **change,
    }
    if form["code_verifier"] == "PLAIN":
        form["code_verifier"] = (
            base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            .rstrip(b"=")
            .decode()
        )
    before = await _counts(auth)
    response = await auth.http.post(
        "/oauth/token", data={k: v for k, v in form.items() if v is not None}
    )
    assert response.json()["error"] == error, response.text
    assert await _counts(auth) == before


@pytest.mark.usefixtures("nothing_stored")
@pytest.mark.parametrize(
    "params",
    [
        {"client_id": "nobody", "redirect_uri": "https://evil.example/cb"},
        {"client_id": "codelab-cli", "redirect_uri": "https://evil.example/cb"},
        {"client_id": "codelab-cli", "redirect_uri": "http://127.0.0.1:1/callback#frag"},
        {"client_id": "codelab-cli", "redirect_uri": "//evil.example/callback"},
        {"client_id": "codelab-cli", "redirect_uri": "http://127.0.0.1:1/callback/../x"},
        {"client_id": "codelab-cli"},  # no redirect_uri and none to default to... (two)
        {"client_id": "codelab-cli", "redirect_uri": "x" * 5000},
    ],
)
async def test_authorize_never_redirects_to_an_unverified_uri(
    auth: Any, params: dict[str, str]
) -> None:
    async with browser_for(auth.app) as browser:
        query = {
            "response_type": "code",
            "code_challenge": "a" * 43,
            "code_challenge_method": "S256",
            **params,
        }
        response = await browser.get("/oauth/authorize", params=query)
    assert response.status_code in (400, 401), response.text
    assert "location" not in response.headers
    assert "evil.example" not in response.headers.get("location", "")


@pytest.mark.usefixtures("nothing_stored")
async def test_authorize_errors_after_a_verified_redirect_are_redirected(auth: Any) -> None:
    async with browser_for(auth.app) as browser:
        base = {"client_id": "codelab-cli", "redirect_uri": REDIRECT, "state": "st"}
        for query, error in (
            ({"response_type": "token"}, "unsupported_response_type"),
            (
                {
                    "response_type": "code",
                    "code_challenge": "a" * 43,
                    "code_challenge_method": "S256",
                    "scope": "admin",
                },
                "invalid_scope",
            ),
            (
                {
                    "response_type": "code",
                    "code_challenge": "a" * 10,
                    "code_challenge_method": "S256",
                },
                "invalid_request",
            ),
        ):
            response = await browser.get("/oauth/authorize", params={**base, **query})
            assert response.status_code == 302, response.text
            location = response.headers["location"]
            assert location.startswith(REDIRECT + "?")
            assert f"error={error}" in location
            assert "state=st" in location


@pytest.mark.usefixtures("nothing_stored")
async def test_revocation_and_introspection_bad_input(auth: Any) -> None:
    json_body = await auth.http.post("/oauth/revoke", json={"token": "x"})
    _error(json_body, 400, "invalid_request")
    no_token = await auth.http.post(
        "/oauth/introspect", data={}, auth=("codelab-runtime", "runtime-secret-value")
    )
    _error(no_token, 400, "invalid_request")
    wrong_secret = await auth.http.post(
        "/oauth/introspect", data={"token": "x"}, auth=("codelab-runtime", "nope")
    )
    _error(wrong_secret, 401, "invalid_client")
