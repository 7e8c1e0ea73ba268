"""The real model: the llm-proxy's OpenAI-compatible ``/chat/completions``, streamed.

SSE parsing is hand-written (a dozen lines over ``httpx``'s line iterator) rather than
pulling in the ``openai`` SDK: the runtime keeps one pooled ``httpx`` client, sets a
fresh bearer token and our ``X-Codelab-*`` headers per call, and needs only deltas.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from codelab_common.protocol import USAGE_COST_FIELD
from codelab_runtime.adapters.tokens import ClientCredentialsTokens
from codelab_runtime.errors import ModelCallError, ModelRequestsDisabled
from codelab_runtime.model.base import (
    ChatRequest,
    Finish,
    ModelEvent,
    TextDelta,
    ToolCallDelta,
    UsageReport,
)


def parse_chunk(chunk: dict[str, Any]) -> list[ModelEvent]:
    """The model events in one ``chat.completion.chunk``."""
    events: list[ModelEvent] = []
    for choice in chunk.get("choices") or []:
        delta = choice.get("delta") or {}
        if text := delta.get("content"):
            events.append(TextDelta(text))
        for part in delta.get("tool_calls") or []:
            function = part.get("function") or {}
            events.append(
                ToolCallDelta(
                    index=int(part.get("index", 0)),
                    id=part.get("id"),
                    name=function.get("name"),
                    arguments=function.get("arguments") or "",
                )
            )
        if refusal := delta.get("refusal"):
            events.append(TextDelta(refusal))
        if reason := choice.get("finish_reason"):
            events.append(Finish(reason))
    if usage := chunk.get("usage"):
        cost = usage.get(USAGE_COST_FIELD)  # the llm-proxy's figure, from its ledger
        events.append(
            UsageReport(
                prompt_tokens=int(usage.get("prompt_tokens") or 0),
                completion_tokens=int(usage.get("completion_tokens") or 0),
                cost_usd=float(cost) if isinstance(cost, int | float) else None,
            )
        )
    return events


class OpenAIChatModel:
    """Streams chat completions from the llm-proxy with a client-credentials token."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        model: str,
        tokens: ClientCredentialsTokens | None,
        *,
        allow_requests: bool = True,
    ) -> None:
        self._http = http
        self._url = base_url.rstrip("/") + "/chat/completions"
        self.name = model
        self._tokens = tokens
        self._allow = allow_requests

    async def _headers(self, request: ChatRequest) -> dict[str, str]:
        headers = {
            "X-Codelab-Session": request.session_id,
            "X-Codelab-Agent": request.agent,
            "X-Correlation-Id": request.correlation_id,
            "Accept": "text/event-stream",
        }
        if self._tokens is not None:
            headers["Authorization"] = f"Bearer {await self._tokens.token()}"
        return headers

    async def stream(self, request: ChatRequest) -> AsyncIterator[ModelEvent]:
        if not self._allow:
            raise ModelRequestsDisabled("allow_model_requests is off")
        body: dict[str, Any] = {
            "model": self.name,
            "messages": request.messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if request.tools:
            body["tools"] = request.tools
        try:
            async with self._http.stream(
                "POST", self._url, json=body, headers=await self._headers(request)
            ) as response:
                if response.status_code != 200:
                    await response.aread()
                    if response.status_code == 401 and self._tokens is not None:
                        self._tokens.invalidate()
                    raise ModelCallError(
                        f"llm-proxy answered {response.status_code}: {response.text[:300]}"
                    )
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    for event in parse_chunk(json.loads(data)):
                        yield event
        except httpx.HTTPError as exc:
            raise ModelCallError(f"llm-proxy unreachable: {type(exc).__name__}") from exc
        except json.JSONDecodeError as exc:
            raise ModelCallError("llm-proxy sent a malformed stream chunk") from exc
