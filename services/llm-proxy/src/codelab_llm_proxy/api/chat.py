"""``POST /v1/chat/completions``: OpenAI chat completions, plain or streamed as SSE."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from codelab_common.errors import CodelabError
from codelab_llm_proxy.adapters.litellm_router import ChunkStream
from codelab_llm_proxy.api.deps import Backend, Caller, Metrics, require_model
from codelab_llm_proxy.errors import openai_error_body
from codelab_llm_proxy.metrics import LlmMetrics
from codelab_llm_proxy.usage import CallRecord

router = APIRouter(prefix="/v1", tags=["openai"])


class ChatCompletionRequest(BaseModel):
    """The fields we act on; other OpenAI parameters (tools, tool_choice, ...) pass through."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    messages: list[dict[str, Any]] = Field(min_length=1)
    stream: bool = False
    stream_options: dict[str, Any] | None = None

    def provider_params(self) -> dict[str, Any]:
        params = self.model_dump(exclude={"model", "stream", "stream_options"}, exclude_none=True)
        if self.stream:
            # Always ask for usage so metrics and logs have tokens; the usage chunk is
            # only forwarded to callers that asked for it themselves.
            params["stream_options"] = {**(self.stream_options or {}), "include_usage": True}
        return params

    @property
    def wants_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.get("include_usage"))


def _sse(payload: dict[str, Any] | str) -> str:
    data = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    return f"data: {data}\n\n"


def new_record(request: Request, caller: Caller, model: str, kind: str) -> CallRecord:
    return CallRecord(
        model=model,
        kind=kind,
        caller=caller.sub,
        session=request.headers.get("x-codelab-session"),
        agent=request.headers.get("x-codelab-agent"),
    )


async def _relay(
    stream: ChunkStream,
    record: CallRecord,
    metrics: LlmMetrics,
    *,
    model: str,
    wants_usage: bool,
) -> AsyncIterator[str]:
    outcome, error_code = "cancelled", None
    try:
        async for chunk in stream.chunks():
            record.add_usage(chunk.get("usage"))
            chunk["model"] = model
            if not wants_usage:
                if not chunk.get("choices"):
                    continue
                chunk.pop("usage", None)
            yield _sse(chunk)
        yield _sse("[DONE]")
        outcome = "ok"
    except CodelabError as exc:
        # Headers are gone: the failure travels as an OpenAI error event, then the stream ends.
        outcome, error_code = "error", exc.code
        yield _sse(openai_error_body(exc))
    finally:
        await stream.aclose()
        record.finish(metrics, outcome, error_code)


@router.post("/chat/completions", summary="Create a chat completion (OpenAI-compatible)")
async def chat_completions(
    body: ChatCompletionRequest, request: Request, caller: Caller, llm: Backend, metrics: Metrics
) -> Response:
    require_model(llm, body.model)
    record = new_record(request, caller, body.model, "chat")
    record.stream = body.stream
    try:
        if not body.stream:
            result = await llm.complete(body.model, body.provider_params())
            result["model"] = body.model
            record.add_usage(result.get("usage"))
            record.finish(metrics, "ok")
            return JSONResponse(result)
        stream = await llm.open_stream(body.model, body.provider_params())
    except CodelabError as exc:
        record.finish(metrics, "error", exc.code)
        raise
    record.mark_first_chunk()
    return StreamingResponse(
        _relay(stream, record, metrics, model=body.model, wants_usage=body.wants_usage),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )
