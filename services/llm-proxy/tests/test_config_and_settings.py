"""Config loading, settings from the environment, timeouts and readiness without models."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from codelab_llm_proxy.app import create_app
from codelab_llm_proxy.config import load_config
from codelab_llm_proxy.errors import ConfigError
from codelab_llm_proxy.settings import LlmProxySettings
from codelab_testing.fake_provider import FakeProvider, Reply, ServerThread
from codelab_testing.tokens import TestIssuer

from .conftest import AUDIENCE, write_config

EXAMPLE = Path(__file__).parents[1] / "config.example.yaml"


def test_example_config_loads_with_pools_named_once() -> None:
    config = load_config(EXAMPLE)
    assert config.model_names == ["coder", "local", "embedder"]
    assert config.router_model_list()[0]["litellm_params"]["api_key"] == (
        "os.environ/OPENAI_API_KEY"
    )


@pytest.mark.parametrize(
    "text",
    [
        "model_list: [{model_name: x}]",
        "model_list: [{model_name: x, litellm_params: {api_base: y}}]",
        "- just a list",
        "model_list: [unclosed",
    ],
)
def test_bad_config_is_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError):
        load_config(path)


def test_missing_config_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_config(tmp_path / "absent.yaml")


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODELAB_LLM_PROXY_CONFIG_PATH", "/etc/codelab/models.yaml")
    monkeypatch.setenv("CODELAB_LLM_PROXY_JWKS_URL", "http://auth:8081/.well-known/jwks.json")
    monkeypatch.setenv("CODELAB_LLM_PROXY_REQUEST_TIMEOUT", "30")
    settings = LlmProxySettings()
    assert settings.port == 8084
    assert settings.config_path == Path("/etc/codelab/models.yaml")
    assert settings.jwks_url == "http://auth:8081/.well-known/jwks.json"
    assert settings.request_timeout == 30.0
    assert (settings.audience, settings.required_scope) == (AUDIENCE, "llm:invoke")


def test_provider_timeout_is_a_504(
    issuer: TestIssuer, jwks_server: ServerThread, provider: FakeProvider, tmp_path: Path
) -> None:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CODELAB_TEST_FAKE_KEY", "x")
        settings = LlmProxySettings(
            config_path=write_config(tmp_path / "m.yaml", provider.base_url),
            jwks_url=f"{jwks_server.url}/.well-known/jwks.json",
            issuer=issuer.issuer,
            request_timeout=0.5,
        )
        with ServerThread(create_app(settings), lifespan="on") as server:
            provider.set_script("slow", [Reply(content="late", delay_per_chunk=3.0)])
            token = issuer.token(audience=AUDIENCE, scope="llm:invoke")
            body = {"model": "coder", "messages": [{"role": "user", "content": "[[script:slow]]"}]}
            response = httpx.post(
                f"{server.url}/v1/chat/completions",
                json=body,
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
            )
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "provider_timeout"


def test_not_ready_without_models(issuer: TestIssuer, jwks_server: ServerThread) -> None:
    settings = LlmProxySettings(
        jwks_url=f"{jwks_server.url}/.well-known/jwks.json", issuer=issuer.issuer
    )
    with ServerThread(create_app(settings), lifespan="on") as server:
        ready = httpx.get(f"{server.url}/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"] == {"jwks": "ok", "models": "failed: ConfigError"}


def test_not_ready_when_jwks_is_down(tmp_path: Path, provider: FakeProvider) -> None:
    settings = LlmProxySettings(
        config_path=write_config(tmp_path / "m.yaml", provider.base_url),
        jwks_url="http://127.0.0.1:9/.well-known/jwks.json",
    )
    with ServerThread(create_app(settings), lifespan="on") as server:
        ready = httpx.get(f"{server.url}/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["jwks"].startswith("failed")
