"""``GET /v1/models`` and ``POST /v1/embeddings``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from codelab_common.errors import CodelabError
from codelab_llm_proxy.adapters.cost_map import context_window
from codelab_llm_proxy.api.deps import Backend, Caller, Metrics, require_model
from codelab_llm_proxy.api.records import new_record
from codelab_llm_proxy.backend import LlmBackend

router = APIRouter(prefix="/v1", tags=["openai"])


def _model_object(llm: LlmBackend, name: str) -> dict[str, Any]:
    found: dict[str, Any] = {"id": name, "object": "model", "created": 0, "owned_by": "codelab"}
    # Extension: how many prompt tokens the model takes, so callers (the agent runtime)
    # know when to condense without a model table of their own.
    window = llm.config.context_window(name, context_window)
    if window is not None:
        found["context_window"] = window
    return found


@router.get("/models", summary="The configured model names")
async def list_models(caller: Caller, llm: Backend) -> dict[str, Any]:
    data = [_model_object(llm, m) for m in llm.config.model_names]
    return {"object": "list", "data": data}


@router.get("/models/{model}", summary="One configured model")
async def get_model(model: str, caller: Caller, llm: Backend) -> dict[str, Any]:
    require_model(llm, model)
    return _model_object(llm, model)


class EmbeddingRequest(BaseModel):
    """OpenAI embeddings request; extra parameters (dimensions, encoding_format) pass through."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    input: str | list[str] | list[int] | list[list[int]]


@router.post("/embeddings", summary="Create embeddings (OpenAI-compatible)")
async def embeddings(
    body: EmbeddingRequest, request: Request, caller: Caller, llm: Backend, metrics: Metrics
) -> dict[str, Any]:
    require_model(llm, body.model)
    record = await new_record(request, caller.sub, body.model, "embeddings")
    try:
        routed = await llm.embed(body.model, body.model_dump(exclude={"model"}, exclude_none=True))
    except CodelabError as exc:
        record.finish(metrics, "error", exc.code)
        raise
    result = routed.result
    record.bind(routed.deployment)
    result["model"] = body.model
    record.add_usage(result.get("usage"))
    record.finish(metrics, "ok")
    return result
