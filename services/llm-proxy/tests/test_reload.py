"""Config reload without restart: a good file replaces the models, a bad one is refused."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import yaml

from codelab_testing.fake_provider import FakeProvider, ServerThread
from codelab_testing.tokens import TestIssuer

from .conftest import RunningProxy, deployment, serve_proxy


def _models(proxy: RunningProxy) -> list[str]:
    response = httpx.get(f"{proxy.base_url}/models", headers=proxy.headers())
    return [m["id"] for m in response.json()["data"]]


def _wait_for(condition: object, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.05)


def test_changed_file_is_served_and_a_bad_one_keeps_the_old(
    issuer: TestIssuer, jwks_server: ServerThread, provider: FakeProvider, tmp_path: Path
) -> None:
    path = tmp_path / "m.yaml"
    document = {"model_list": [deployment("coder", provider.base_url)]}
    with serve_proxy(issuer, jwks_server, path, document, config_watch_interval=0.05) as proxy:
        assert _models(proxy) == ["coder"]
        document["model_list"].append(deployment("writer", provider.base_url))
        document["router"] = {"attempt_timeout": 7.5}
        path.write_text(yaml.safe_dump(document), encoding="utf-8")
        _wait_for(lambda: _models(proxy) == ["coder", "writer"])
        assert _models(proxy) == ["coder", "writer"]
        # Deadlines follow the new file on both provider paths.
        llm = proxy.app.state.llm
        assert llm.limits.attempt_timeout == llm.lite.timeout == 7.5

        path.write_text("model_list: [{model_name: broken}]", encoding="utf-8")
        reloader = proxy.app.state.reloader
        _wait_for(lambda: reloader.last_error is not None)
        assert "litellm_params" in reloader.last_error
        assert _models(proxy) == ["coder", "writer"]
        chat = httpx.post(
            f"{proxy.base_url}/chat/completions",
            json={"model": "writer", "messages": [{"role": "user", "content": "hi"}]},
            headers=proxy.headers(),
        )
        assert chat.status_code == 200
