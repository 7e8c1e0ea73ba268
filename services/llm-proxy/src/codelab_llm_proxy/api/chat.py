"""``POST /v1/chat/completions``: OpenAI chat completions, plain or streamed as SSE."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from codelab_common.errors import CodelabError
from codelab_llm_proxy.api.deps import Backend, Caller, Metrics, require_model
from codelab_llm_proxy.api.records import new_record
from codelab_llm_proxy.api.relay import CachePlan, cache_plan, relay
from codelab_llm_proxy.api.semantic import SemanticPlan, semantic_plan
from codelab_llm_proxy.backend import LlmBackend
from codelab_llm_proxy.errors import ProviderUnavailable
from codelab_llm_proxy.metrics import LlmMetrics
from codelab_llm_proxy.routing.engine import Routed
from codelab_llm_proxy.streams import FrameStream, ReplayStream, add_cost
from codelab_llm_proxy.usage import CACHE_ANSWERS, CallRecord

router = APIRouter(prefix="/v1", tags=["openai"])


class OrjsonResponse(JSONResponse):
    """A JSON response rendered by orjson: several times faster than json on completions."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class ChatCompletionRequest(BaseModel):
    """The fields we act on; other OpenAI parameters (tools, tool_choice, ...) pass through."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    messages: list[dict[str, Any]] = Field(min_length=1)
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    cache: bool | None = Field(default=None, description="Extension: force caching on or off.")

    def provider_params(self) -> dict[str, Any]:
        params = self.model_dump(
            exclude={"model", "stream", "stream_options", "cache"}, exclude_none=True
        )
        if self.stream:
            # Always ask for usage so metrics and logs have tokens; the usage chunk is
            # only forwarded to callers that asked for it themselves.
            params["stream_options"] = {**(self.stream_options or {}), "include_usage": True}
        return params

    @property
    def wants_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.get("include_usage"))


def routing_headers(routed: Routed[Any], model: str) -> dict[str, str]:
    headers = {"x-codelab-deployment": routed.deployment.id}
    if routed.deployment.model_name != model:
        headers["x-codelab-served-by"] = routed.deployment.model_name
    if routed.degraded:
        headers["x-codelab-degraded"] = "true"
    return headers


async def _complete(
    body: ChatCompletionRequest,
    params: dict[str, Any],
    llm: Backend,
    record: CallRecord,
    plan: CachePlan | None,
    semantic: SemanticPlan | None,
) -> tuple[dict[str, Any], dict[str, str]]:
    if plan is not None and plan.read:
        hit = await plan.cache.get_json(plan.namespace, plan.key)
        if hit is not None:
            record.cache = "hit"
            return hit, {"x-codelab-cache": "hit"}
    if semantic is not None:
        near = await semantic.get_json()
        if near is not None:
            record.cache = "semantic-hit"
            return near, {"x-codelab-cache": "semantic-hit"}
    try:
        routed = await llm.complete(body.model, params)
    except ProviderUnavailable:
        # Every deployment is down or open: an answer from the cache beats a 503.
        stale = await plan.cache.get_json(plan.namespace, plan.key) if plan else None
        if stale is None:
            raise
        record.cache = "degraded"
        return stale, {"x-codelab-cache": "hit", "x-codelab-degraded": "cache"}
    record.bind(routed.deployment)
    result = routed.result
    result["model"] = body.model
    headers = routing_headers(routed, body.model)
    if plan is not None or semantic is not None:
        headers["x-codelab-cache"] = record.cache = "miss"
    if plan is not None and plan.write:
        await plan.cache.put_json(plan.namespace, plan.key, result)
    if semantic is not None:
        await semantic.put_json(result)
    return result, headers


@router.post("/chat/completions", summary="Create a chat completion (OpenAI-compatible)")
async def chat_completions(
    body: ChatCompletionRequest, request: Request, caller: Caller, llm: Backend, metrics: Metrics
) -> Response:
    require_model(llm, body.model)
    record = await new_record(request, caller.sub, body.model, "chat")
    record.stream = body.stream
    params = body.provider_params()
    plan = cache_plan(request, caller.sub, body.model, params, body.cache)
    semantic = semantic_plan(request, caller.sub, body.model, params, body.cache)
    try:
        if not body.stream:
            result, headers = await _complete(body, params, llm, record, plan, semantic)
            record.add_usage(result.get("usage"))
            cost, usage = record.cost(), result.get("usage")
            if isinstance(usage, dict):
                add_cost(usage, cost)
            headers["x-codelab-cost-usd"] = str(round(cost, 10))
            record.finish(metrics, "ok")
            return OrjsonResponse(result, headers=headers)
        stream: FrameStream | None = None
        headers = {}
        if plan is not None and plan.read:
            frames = await plan.cache.get_frames(plan.namespace, plan.key)
            if frames is not None:
                stream, record.cache = ReplayStream(frames), "hit"
                headers["x-codelab-cache"] = "hit"
        if stream is None and semantic is not None:
            frames = await semantic.get_frames()
            if frames is not None:
                stream, record.cache = ReplayStream(frames), "semantic-hit"
                headers["x-codelab-cache"] = "semantic-hit"
        if stream is None:
            try:
                routed = await llm.open_stream(body.model, params)
            except ProviderUnavailable:
                frames = await plan.cache.get_frames(plan.namespace, plan.key) if plan else None
                if frames is None:
                    raise
                record.cache = "degraded"
                headers = {"x-codelab-cache": "hit", "x-codelab-degraded": "cache"}
                return _stream_response(
                    ReplayStream(frames), record, metrics, body, llm, None, headers
                )
            stream = routed.result
            record.bind(routed.deployment)
            headers.update(routing_headers(routed, body.model))
            if plan is not None or semantic is not None:
                headers["x-codelab-cache"] = record.cache = "miss"
    except CodelabError as exc:
        record.finish(metrics, "error", exc.code)
        raise
    fresh = record.cache not in CACHE_ANSWERS
    store = plan if plan is not None and plan.write and fresh else None
    learn = semantic if fresh else None
    return _stream_response(stream, record, metrics, body, llm, store, headers, learn)


def _stream_response(
    stream: FrameStream,
    record: CallRecord,
    metrics: LlmMetrics,
    body: ChatCompletionRequest,
    llm: LlmBackend,
    store: CachePlan | None,
    headers: dict[str, str],
    semantic: SemanticPlan | None = None,
) -> StreamingResponse:
    record.mark_first_chunk()
    return StreamingResponse(
        relay(
            stream,
            record,
            metrics,
            body.messages,
            llm.limits.stream_idle_timeout,
            wants_usage=body.wants_usage,
            store=store,
            semantic=semantic,
        ),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache", "x-accel-buffering": "no", **headers},
    )
