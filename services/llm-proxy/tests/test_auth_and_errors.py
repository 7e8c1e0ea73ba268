"""Auth on every /v1 route and OpenAI-shaped errors; probes keep the common shape."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from .conftest import RunningProxy

CHAT = {"model": "coder", "messages": [{"role": "user", "content": "hi"}]}


def _chat(proxy: RunningProxy, headers: dict[str, str], body: Any = None) -> httpx.Response:
    return httpx.post(f"{proxy.base_url}/chat/completions", json=body or CHAT, headers=headers)


def _assert_openai_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == code
    return error


@pytest.mark.parametrize("path", ["/chat/completions", "/embeddings", "/models"])
def test_no_token_is_401_everywhere(proxy: RunningProxy, path: str) -> None:
    method = "GET" if path == "/models" else "POST"
    response = httpx.request(method, f"{proxy.base_url}{path}", json=CHAT)
    error = _assert_openai_error(response, 401, "invalid_token")
    assert error["type"] == "authentication_error"
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_wrong_audience_is_401(proxy: RunningProxy) -> None:
    response = _chat(proxy, proxy.headers(audience="codelab-gateway"))
    _assert_openai_error(response, 401, "invalid_token")


def test_token_from_another_issuer_is_401(proxy: RunningProxy) -> None:
    response = _chat(proxy, proxy.headers(iss="https://evil.example"))
    _assert_openai_error(response, 401, "invalid_token")


def test_garbage_token_is_401(proxy: RunningProxy) -> None:
    _assert_openai_error(_chat(proxy, {"Authorization": "Bearer not.a.jwt"}), 401, "invalid_token")


def test_missing_scope_is_403(proxy: RunningProxy) -> None:
    response = _chat(proxy, proxy.headers(scope="sessions:read"))
    error = _assert_openai_error(response, 403, "insufficient_scope")
    assert error["type"] == "permission_error"


def test_unknown_model_is_404(proxy: RunningProxy) -> None:
    body = {**CHAT, "model": "gpt-nope"}
    error = _assert_openai_error(_chat(proxy, proxy.headers(), body), 404, "model_not_found")
    assert error["param"] == "model"
    assert "gpt-nope" in error["message"]


async def test_unknown_model_raises_not_found_in_the_sdk(proxy: RunningProxy) -> None:
    async with openai.AsyncOpenAI(base_url=proxy.base_url, api_key=proxy.token()) as client:
        with pytest.raises(openai.NotFoundError):
            await client.chat.completions.create(
                model="gpt-nope", messages=[{"role": "user", "content": "hi"}]
            )


@pytest.mark.parametrize(
    ("body", "param"),
    [({"model": "coder"}, "messages"), ({"model": "coder", "messages": []}, "messages")],
)
def test_malformed_request_is_400(proxy: RunningProxy, body: dict[str, Any], param: str) -> None:
    error = _assert_openai_error(_chat(proxy, proxy.headers(), body), 400, "bad_request")
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"


def test_a_body_that_is_not_json_is_400(proxy: RunningProxy) -> None:
    response = httpx.post(
        f"{proxy.base_url}/chat/completions",
        content=b'{"model": "coder", "messages": [',
        headers={**proxy.headers(), "content-type": "application/json"},
    )
    error = _assert_openai_error(response, 400, "bad_request")
    assert "JSON" in error["message"]


def test_unknown_v1_route_is_openai_shaped(proxy: RunningProxy) -> None:
    response = httpx.get(f"{proxy.base_url}/nope", headers=proxy.headers())
    _assert_openai_error(response, 404, "unknown_url")


def test_probes_keep_the_common_shape(proxy: RunningProxy) -> None:
    assert httpx.get(f"{proxy.server.url}/healthz").json()["status"] == "ok"
    ready = httpx.get(f"{proxy.server.url}/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"jwks": "ok", "models": "ok"}
    missing = httpx.get(f"{proxy.server.url}/nope")
    assert missing.headers["content-type"] == "application/problem+json"
