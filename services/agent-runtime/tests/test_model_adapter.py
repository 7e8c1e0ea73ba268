"""The llm-proxy adapter against a small fake proxy and token endpoint (real ASGI apps)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Form, Request
from fastapi.responses import JSONResponse, StreamingResponse

from codelab_runtime.adapters.model_info import context_window_of
from codelab_runtime.adapters.openai_model import OpenAIChatModel, parse_chunk
from codelab_runtime.adapters.tokens import ClientCredentialsTokens
from codelab_runtime.errors import ModelCallError, ModelRequestsDisabled
from codelab_runtime.model.base import (
    ChatRequest,
    Finish,
    TextDelta,
    ToolCallAssembler,
    ToolCallDelta,
    UsageReport,
)
from codelab_runtime.model_window import DEFAULT_CONTEXT_WINDOW, ModelWindow

CHUNKS: list[dict[str, Any]] = [
    {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}}]},
    {"choices": [{"index": 0, "delta": {"content": "lo"}}]},
    {
        "choices": [
            {
                "index": 0,
                "delta": {
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "read_file", "arguments": '{"pa'},
                        }
                    ]
                },
            }
        ]
    },
    {
        "choices": [
            {
                "index": 0,
                "delta": {"tool_calls": [{"index": 0, "function": {"arguments": 'th": "a.py"}'}}]},
            }
        ]
    },
    {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
    {"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 7}},
]


def fake_mesh(seen: dict[str, Any]) -> FastAPI:
    app = FastAPI()

    @app.post("/oauth/token")
    async def token(
        request: Request, grant_type: str = Form(), scope: str = Form(), resource: str = Form()
    ) -> JSONResponse:
        seen.setdefault("token_calls", []).append(
            {
                "grant_type": grant_type,
                "scope": scope,
                "resource": resource,
                "auth": request.headers.get("authorization"),
            }
        )
        return JSONResponse({"access_token": "tok-1", "token_type": "Bearer", "expires_in": 600})

    @app.get("/v1/models/{model}")
    async def model_info(model: str, request: Request) -> JSONResponse:
        if request.headers.get("authorization") != "Bearer tok-1":
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        if model == "codelab-default":
            return JSONResponse({"id": model, "object": "model", "context_window": 4096})
        if model == "no-window":
            return JSONResponse({"id": model, "object": "model"})
        return JSONResponse({"error": {"message": "no such model"}}, status_code=404)

    @app.post("/v1/chat/completions")
    async def completions(request: Request) -> Any:
        seen["body"] = await request.json()
        seen["headers"] = dict(request.headers)
        if request.headers.get("authorization") != "Bearer tok-1":
            return JSONResponse({"error": "unauthorized"}, status_code=401)

        async def events() -> AsyncIterator[str]:
            for chunk in CHUNKS:
                yield f"data: {json.dumps(chunk)}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return app


def _tokens(client: httpx.AsyncClient) -> ClientCredentialsTokens:
    return ClientCredentialsTokens(
        client,
        "http://mesh/oauth/token",
        "codelab-runtime",
        "s3cret",
        scope="llm:invoke",
        resource="codelab-llm-proxy",
    )


def chat_request() -> ChatRequest:
    return ChatRequest(
        messages=[{"role": "user", "content": "hi"}],
        tools=[],
        session_id="sess_1",
        agent="coder",
        correlation_id="turn_1",
    )


@pytest.fixture
async def http() -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, Any]]]:
    seen: dict[str, Any] = {}
    transport = httpx.ASGITransport(app=fake_mesh(seen))
    async with httpx.AsyncClient(transport=transport, base_url="http://mesh") as client:
        yield client, seen


async def test_streams_text_tool_calls_and_usage_with_our_headers(
    http: tuple[httpx.AsyncClient, dict[str, Any]],
) -> None:
    client, seen = http
    tokens = _tokens(client)
    model = OpenAIChatModel(client, "http://mesh/v1", "codelab-default", tokens)
    events = [e async for e in model.stream(chat_request())]
    assert [e for e in events if isinstance(e, TextDelta)] == [TextDelta("Hel"), TextDelta("lo")]
    assembler = ToolCallAssembler()
    for e in events:
        if isinstance(e, ToolCallDelta):
            assembler.add(e)
    [tool_call] = assembler.calls()
    assert (tool_call.id, tool_call.name, json.loads(tool_call.arguments)) == (
        "call_1",
        "read_file",
        {"path": "a.py"},
    )
    assert Finish("tool_calls") in events
    assert UsageReport(12, 7) in events
    assert seen["body"]["stream"] is True
    assert seen["body"]["stream_options"] == {"include_usage": True}
    assert seen["headers"]["x-codelab-session"] == "sess_1"
    assert seen["headers"]["x-codelab-agent"] == "coder"
    assert seen["headers"]["x-correlation-id"] == "turn_1"
    # A second call reuses the cached token.
    _ = [e async for e in model.stream(chat_request())]
    [call] = seen["token_calls"]
    assert call["grant_type"] == "client_credentials"
    assert call["scope"] == "llm:invoke"
    assert call["resource"] == "codelab-llm-proxy"
    assert call["auth"].startswith("Basic ")


def test_the_cost_the_llm_proxy_reports_is_read() -> None:
    usage = {"prompt_tokens": 12, "completion_tokens": 7, "codelab_cost_usd": 0.0031}
    assert parse_chunk({"choices": [], "usage": usage}) == [UsageReport(12, 7, 0.0031)]
    # Another OpenAI-compatible server reports none: the runtime's prices stand in.
    assert parse_chunk({"choices": [], "usage": {"prompt_tokens": 1}}) == [UsageReport(1, 0)]


async def test_proxy_error_is_a_model_call_error(
    http: tuple[httpx.AsyncClient, dict[str, Any]],
) -> None:
    client, _ = http
    model = OpenAIChatModel(client, "http://mesh/v1", "m", tokens=None)  # no token: 401
    with pytest.raises(ModelCallError, match="401"):
        _ = [e async for e in model.stream(chat_request())]


async def test_kill_switch_blocks_network_models(
    http: tuple[httpx.AsyncClient, dict[str, Any]],
) -> None:
    client, seen = http
    model = OpenAIChatModel(client, "http://mesh/v1", "m", None, allow_requests=False)
    with pytest.raises(ModelRequestsDisabled):
        _ = [e async for e in model.stream(chat_request())]
    assert "body" not in seen


async def test_the_context_window_is_what_the_proxy_says(
    http: tuple[httpx.AsyncClient, dict[str, Any]],
) -> None:
    client, seen = http
    tokens = _tokens(client)
    assert await context_window_of(client, "http://mesh/v1", "codelab-default", tokens) == 4096
    assert await context_window_of(client, "http://mesh/v1", "no-window", tokens) is None
    assert await context_window_of(client, "http://mesh/v1", "unknown", tokens) is None
    # Without a token the proxy refuses: the runtime falls back instead of failing.
    assert await context_window_of(client, "http://mesh/v1", "codelab-default", None) is None
    unreachable = "http://127.0.0.1:9/v1"
    async with httpx.AsyncClient() as nowhere:
        assert await context_window_of(nowhere, unreachable, "codelab-default", None) is None
    assert len(seen["token_calls"]) == 1  # one token, reused


async def test_the_window_is_learnt_once_the_proxy_answers() -> None:
    answers: list[int | None] = [None, None, 4096]

    async def ask() -> int | None:
        return answers.pop(0)

    window = ModelWindow(known=False)
    assert window.tokens == DEFAULT_CONTEXT_WINDOW  # the stand-in while the proxy is silent
    await asyncio.wait_for(window.learn(ask, first_pause=0.01), timeout=5)
    assert (window.tokens, window.known) == (4096, True)
    assert answers == []
