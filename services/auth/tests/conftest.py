"""Fixtures: a real auth app (lifespan run) on a temp SQLite file or a fresh PostgreSQL DB."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import asyncpg
import httpx
import httpx2
import pytest
from authlib.integrations.httpx_client import AsyncOAuth2Client
from fastapi import FastAPI
from pydantic import SecretStr

from codelab_auth.admin import ClientSpec, upsert_client, upsert_user
from codelab_auth.app import create_app
from codelab_auth.context import AuthContext
from codelab_auth.settings import AuthSettings

ISSUER = "http://localhost:8080/auth"
PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
RUNTIME_SECRET = "runtime-secret-value"


def make_settings(database_url: str, data_dir: Path, **overrides: Any) -> AuthSettings:
    """Settings for tests: cheap argon2, a non-default key secret, plain logs."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "data_dir": data_dir,
        "issuer": ISSUER,
        "key_encryption_secret": SecretStr("test-key-encryption-secret"),
        "argon2_time_cost": 1,
        "argon2_memory_kib": 1024,
        "argon2_parallelism": 1,
        "log_json": False,
        **overrides,
    }
    return AuthSettings(**values)


def _jwt_part(token: str, index: int) -> dict[str, Any]:
    part = token.split(".")[index]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


class AuthHarness:
    """A running auth app, an HTTP client on it, and shortcuts to register principals."""

    def __init__(self, app: FastAPI, http: httpx.AsyncClient) -> None:
        self.app = app
        self.http = http

    @property
    def context(self) -> AuthContext:
        context: AuthContext = self.app.state.auth
        return context

    async def add_user(self, username: str, password: str, roles: list[str]) -> None:
        async with self.context.sessions.begin() as session:
            await upsert_user(session, self.context.policy.hasher, username, roles, password)

    async def add_client(self, spec: ClientSpec) -> None:
        async with self.context.sessions.begin() as session:
            await upsert_client(session, self.context.policy.hasher, spec)

    async def token(self, auth: tuple[str, str] | None = None, **form: str) -> httpx.Response:
        return await self.http.post("/oauth/token", data=form, auth=auth)

    async def login(self, username: str, password: str, **form: str) -> dict[str, Any]:
        """A successful password grant through the CLI client."""
        response = await self.token(
            grant_type="password",
            username=username,
            password=password,
            client_id="codelab-cli",
            **form,
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    @staticmethod
    def claims(token: str) -> dict[str, Any]:
        """The unverified payload of a JWT (signatures are checked with JwtVerifier)."""
        return _jwt_part(token, 1)

    @staticmethod
    def header(token: str) -> dict[str, Any]:
        return _jwt_part(token, 0)


@asynccontextmanager
async def running(settings: AuthSettings) -> AsyncIterator[AuthHarness]:
    """Create the app, run its lifespan, and talk to it over ASGITransport."""
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://auth") as http,
    ):
        yield AuthHarness(app, http)


@asynccontextmanager
async def fresh_postgres_database() -> AsyncIterator[str]:
    """A new database ``auth_test_<uuid>``, dropped afterwards."""
    name = f"auth_test_{uuid.uuid4().hex}"
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
async def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'auth.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """Parametrizes a test over both supported databases."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'auth.db'}"
        return
    async with fresh_postgres_database() as url:
        yield url


CLI_CLIENT = ClientSpec(
    client_id="codelab-cli",
    scopes=("sessions:read", "sessions:write"),
    audience="codelab-gateway",
    grant_types=(
        "authorization_code",
        "urn:ietf:params:oauth:grant-type:device_code",
        "password",
        "refresh_token",
    ),
    public=True,
    allow_password_grant=True,
    redirect_uris=("http://127.0.0.1/callback",),
)
RUNTIME_CLIENT = ClientSpec(
    client_id="codelab-runtime",
    scopes=("llm:invoke",),
    audience="codelab-llm-proxy",
    grant_types=("client_credentials",),
    secret=RUNTIME_SECRET,
)


@pytest.fixture
def boot(tmp_path: Path) -> Any:
    """``boot(database_url, **settings)``: an async context manager over a running app."""

    def start(database_url: str, **overrides: Any) -> Any:
        return running(make_settings(database_url, tmp_path, **overrides))

    return start


@pytest.fixture
async def auth(database_url: str, tmp_path: Path) -> AsyncIterator[AuthHarness]:
    """The app with user alice (developer), bob (viewer) and the CLI and runtime clients."""
    async with running(make_settings(database_url, tmp_path)) as harness:
        await harness.add_user("alice", "alice-password", ["developer"])
        await harness.add_user("bob", "bob-password", ["viewer"])
        await harness.add_client(CLI_CLIENT)
        await harness.add_client(RUNTIME_CLIENT)
        yield harness


# An IP host: http.cookiejar mangles cookies of a bare "localhost".
BASE = "http://127.0.0.1"
REDIRECT = "http://127.0.0.1:53682/callback"


@asynccontextmanager
async def browser_for(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        yield client


@asynccontextmanager
async def oauth_client_for(
    app: FastAPI, client_id: str = "codelab-cli", **kwargs: object
) -> AsyncIterator[AsyncOAuth2Client]:
    async with AsyncOAuth2Client(
        client_id=client_id,
        redirect_uri=REDIRECT,
        scope="sessions:read sessions:write",
        code_challenge_method="S256",
        token_endpoint_auth_method="none",
        # authlib's httpx integration runs on its own httpx fork (httpx2).
        transport=httpx2.ASGITransport(app=app),
        **kwargs,
    ) as client:
        yield client


class LoginForm(HTMLParser):
    """The first form of a page: its action and every named input's value."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self.labels: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form" and self.action is None:
            self.action = values.get("action", "")
        elif tag == "input" and values.get("name") and values.get("type") == "hidden":
            self.fields[values["name"]] = values.get("value", "")
        elif tag == "label" and values.get("for"):
            self.labels.add(values["for"])


def parse_form(html: str) -> LoginForm:
    form = LoginForm()
    form.feed(html)
    assert form.action is not None, "no form on the page"
    return form


async def sign_in(
    browser: httpx.AsyncClient,
    authorize_url: str,
    username: str,
    password: str,
    decision: str = "allow",
) -> httpx.Response:
    """Open ``authorize_url``, submit the form; return the POST's response (a redirect)."""
    page = await browser.get(authorize_url)
    assert page.status_code == 200, page.text
    form = parse_form(page.text)
    assert {"username", "password"} <= form.labels  # every field has a label
    data = {**form.fields, "username": username, "password": password, "decision": decision}
    return await browser.post(urljoin(str(page.url), form.action or ""), data=data)


@pytest.fixture
async def browser(auth: AuthHarness) -> AsyncIterator[httpx.AsyncClient]:
    """A cookie-keeping HTTP client playing the user's browser."""
    async with browser_for(auth.app) as client:
        yield client


@pytest.fixture
async def oauth(auth: AuthHarness) -> AsyncIterator[AsyncOAuth2Client]:
    """authlib's OAuth client as the public ``codelab-cli`` with a loopback redirect."""
    async with oauth_client_for(auth.app) as client:
        yield client


@pytest.fixture
def browser_factory() -> Any:
    """``browser_for`` as a fixture, for tests that boot their own app."""
    return browser_for
