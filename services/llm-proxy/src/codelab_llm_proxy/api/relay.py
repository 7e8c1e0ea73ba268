"""Relaying a frame stream to the caller, and deciding what the exact cache may do."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from codelab_common.errors import CodelabError
from codelab_llm_proxy.adapters.litellm_router import count_prompt_tokens
from codelab_llm_proxy.api.semantic import SemanticPlan
from codelab_llm_proxy.cache import ExactCache, cache_key, is_cacheable
from codelab_llm_proxy.errors import ProviderTimeout, openai_error_body
from codelab_llm_proxy.metrics import LlmMetrics
from codelab_llm_proxy.streams import (
    DONE,
    Frame,
    FrameStream,
    add_cost,
    dumps,
    with_cost,
    without_null_usage,
)
from codelab_llm_proxy.usage import CallRecord


@dataclass
class CachePlan:
    """Where a request's answer is looked up and whether it may be read and stored."""

    cache: ExactCache
    namespace: str
    key: str
    read: bool
    write: bool


def cache_plan(
    request: Request, namespace: str, model: str, params: dict[str, Any], explicit: bool | None
) -> CachePlan | None:
    """None when there is no cache or the request is not deterministic."""
    cache: ExactCache | None = request.app.state.cache
    if cache is None or not is_cacheable(params, explicit):
        return None
    directives = {d.strip().lower() for d in request.headers.get("cache-control", "").split(",")}
    if "no-store" in directives:
        return None
    return CachePlan(cache, namespace, cache_key(model, params), "no-cache" not in directives, True)


async def relay(
    stream: FrameStream,
    record: CallRecord,
    metrics: LlmMetrics,
    messages: list[dict[str, Any]],
    idle_timeout: float,
    *,
    wants_usage: bool,
    store: CachePlan | None,
    semantic: SemanticPlan | None = None,
) -> AsyncIterator[bytes]:
    """Frames to the caller; a failure after the first one ends with an error event + usage."""
    outcome, error_code = "cancelled", None
    kept: list[Frame] = []
    content_frames = 0
    iterator = stream.frames()
    try:
        while True:
            try:
                async with asyncio.timeout(idle_timeout):
                    frame = await anext(iterator)
            except StopAsyncIteration:
                break
            except TimeoutError as exc:
                raise ProviderTimeout(
                    f"model '{record.model}': stream stalled for {idle_timeout:.0f}s"
                ) from exc
            if frame.done:
                continue
            if store is not None or semantic is not None:
                kept.append(frame)
            record.add_usage(frame.usage)
            if frame.has_choices:
                content_frames += 1
            elif not wants_usage:
                continue
            data = frame.data if wants_usage else without_null_usage(frame.data)
            yield with_cost(data, record.cost()) if frame.usage is not None else data
        yield DONE
        outcome = "ok"
        if store is not None:
            await store.cache.put_frames(store.namespace, store.key, kept)
        if semantic is not None:
            await semantic.put_frames(kept)
    except CodelabError as exc:
        # Headers are gone: the failure travels as an OpenAI error event carrying what was
        # consumed, then the stream ends.
        outcome, error_code = "error", exc.code
        _estimate_consumed(record, messages, content_frames)
        body = openai_error_body(exc)
        body["usage"] = {
            "prompt_tokens": record.prompt_tokens,
            "completion_tokens": record.completion_tokens,
            "total_tokens": record.prompt_tokens + record.completion_tokens,
        }
        add_cost(body["usage"], record.cost())
        yield b"data: " + dumps(body) + b"\n\n"
    finally:
        if outcome == "cancelled":
            # The caller left: the provider has still billed what it generated so far, and
            # that must reach the ledger, the TPM window and the budget.
            _estimate_consumed(record, messages, content_frames)
        await stream.aclose()
        record.finish(metrics, outcome, error_code)


def _estimate_consumed(record: CallRecord, messages: list[dict[str, Any]], chunks: int) -> None:
    """Usage of a stream cut short, whose usage chunk (sent last) never came: the prompt by
    tokenizer, one token per content chunk streamed so far."""
    if not record.prompt_tokens:
        record.prompt_tokens = count_prompt_tokens(record.model, messages)
    record.completion_tokens = max(record.completion_tokens, chunks)
