"""A running proxy wired to a real JWKS server and the fake provider, all on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
import redis
import yaml
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from codelab_llm_proxy.app import create_app
from codelab_llm_proxy.settings import LlmProxySettings
from codelab_testing.fake_provider import FakeProvider, ServerThread
from codelab_testing.tokens import TestIssuer

AUDIENCE = "codelab-llm-proxy"
REDIS_URL = "redis://127.0.0.1:6379/0"


class RunningProxy:
    """The proxy app served over HTTP, and what tests need to call it."""

    def __init__(self, app: FastAPI, server: ServerThread, issuer: TestIssuer) -> None:
        self.app = app
        self.server = server
        self.issuer = issuer

    @property
    def base_url(self) -> str:
        return f"{self.server.url}/v1"

    def token(self, **claims: Any) -> str:
        claims.setdefault("audience", AUDIENCE)
        claims.setdefault("scope", "llm:invoke")
        claims.setdefault("sub", "codelab-runtime")
        return self.issuer.token(**claims)

    def headers(self, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(**claims)}"}


def write_config(path: Path, api_base: str) -> Path:
    document = {
        "model_list": [
            {
                "model_name": "coder",
                "litellm_params": {
                    "model": "openai/fake",
                    "api_base": api_base,
                    "api_key": "os.environ/CODELAB_TEST_FAKE_KEY",
                },
            },
            {
                "model_name": "embedder",
                "litellm_params": {
                    "model": "openai/fake-embedding",
                    "api_base": api_base,
                    "api_key": "unused",
                },
            },
        ]
    }
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def pytest_configure(config: pytest.Config) -> None:
    # litellm builds pydantic schemas for TypedDicts with ReadOnly items (a UserWarning,
    # turned into an error by the root filterwarnings) when it first imports parts of itself.
    config.addinivalue_line("filterwarnings", "ignore:Item.*ReadOnly:UserWarning")
    # litellm types embeddings as floats; base64 strings (the openai SDK's default) pass
    # through fine but make pydantic warn when litellm serializes its response.
    config.addinivalue_line("filterwarnings", "ignore:Pydantic serializer warnings:UserWarning")


@pytest.fixture(scope="session")
def issuer() -> TestIssuer:
    return TestIssuer()


@pytest.fixture(scope="session")
def jwks_server(issuer: TestIssuer) -> Iterator[ServerThread]:
    async def jwks(request: Request) -> JSONResponse:
        return JSONResponse(issuer.jwks())

    app = Starlette(routes=[Route("/.well-known/jwks.json", jwks)])
    with ServerThread(app, lifespan="off") as server:
        yield server


@pytest.fixture(scope="session")
def provider() -> Iterator[FakeProvider]:
    with FakeProvider() as running:
        yield running


@pytest.fixture(scope="session")
def proxy(
    issuer: TestIssuer,
    jwks_server: ServerThread,
    provider: FakeProvider,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningProxy]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CODELAB_TEST_FAKE_KEY", "sk-test-not-a-secret")
        config = write_config(tmp_path_factory.mktemp("proxy") / "models.yaml", provider.base_url)
        settings = LlmProxySettings(
            config_path=config,
            jwks_url=f"{jwks_server.url}/.well-known/jwks.json",
            issuer=issuer.issuer,
            log_json=True,
            request_timeout=5.0,
            data_dir=tmp_path_factory.mktemp("data"),
        )
        app = create_app(settings)
        with ServerThread(app, lifespan="on") as server:
            yield RunningProxy(app, server, issuer)


@pytest.fixture(autouse=True)
def _fresh_scripts(provider: FakeProvider, backup: FakeProvider) -> None:
    provider.reset()
    backup.reset()


def deployment(name: str, api_base: str, *, fast: bool = True, **extra: Any) -> dict[str, Any]:
    """A model_list entry for a fake provider; ``fast=False`` forces the litellm path."""
    return {
        "model_name": name,
        "litellm_params": {"model": "openai/fake", "api_base": api_base, "api_key": "unused"},
        "fast_path": fast,
        **extra,
    }


@contextmanager
def serve_proxy(
    issuer: TestIssuer,
    jwks_server: ServerThread,
    path: Path,
    document: dict[str, Any],
    **settings: Any,
) -> Iterator[RunningProxy]:
    """A proxy on its own port over ``document`` (a model config mapping)."""
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    configured = LlmProxySettings(
        config_path=path,
        jwks_url=f"{jwks_server.url}/.well-known/jwks.json",
        issuer=issuer.issuer,
        request_timeout=5.0,
        # The ledger (a migration per start) only where a test reads it.
        **{"data_dir": path.parent, "ledger_enabled": False, **settings},
    )
    app = create_app(configured)
    with ServerThread(app, lifespan="on") as server:
        yield RunningProxy(app, server, issuer)


# proxy_for(document, name="m", **settings): a proxy over ``document`` (a context manager).
ProxyFor = Callable[..., AbstractContextManager[RunningProxy]]


@pytest.fixture
def proxy_for(issuer: TestIssuer, jwks_server: ServerThread, tmp_path: Path) -> ProxyFor:
    """Start proxies over model documents, with this test's issuer and its own folder."""

    def start(
        document: dict[str, Any], *, name: str = "m", **settings: Any
    ) -> AbstractContextManager[RunningProxy]:
        return serve_proxy(issuer, jwks_server, tmp_path / f"{name}.yaml", document, **settings)

    return start


@pytest.fixture(scope="session")
def backup() -> Iterator[FakeProvider]:
    """A second fake provider, for failover between deployments."""
    with FakeProvider() as running:
        yield running


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    prefix = f"test:{uuid4().hex}:"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


def chat(
    proxy: RunningProxy, script: str, *, model: str = "coder", timeout: float = 10, **body: Any
) -> httpx.Response:
    """POST a chat completion whose message selects the fake provider's ``script``."""
    headers = {**proxy.headers(), **body.pop("headers", {})}
    payload = {"model": model, "messages": [{"role": "user", "content": f"[[script:{script}]]"}]}
    return httpx.post(
        f"{proxy.base_url}/chat/completions",
        json={**payload, **body},
        headers=headers,
        timeout=timeout,
    )


def sse_events(response: httpx.Response) -> list[str]:
    return [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
