"""Cache administration (admin scope): statistics and invalidation of both caches."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query, Request

from codelab_common.errors import Forbidden, ServiceUnavailable
from codelab_llm_proxy.api.deps import Caller
from codelab_llm_proxy.cache import ExactCache
from codelab_llm_proxy.settings import LlmProxySettings

if TYPE_CHECKING:  # the Qdrant client is imported only where a semantic cache is configured
    from codelab_llm_proxy.semantic_cache import SemanticCache

router = APIRouter(prefix="/v1/cache", tags=["cache"])
Filter = Annotated[str | None, Query()]


def _admin_caches(
    request: Request, caller: Caller
) -> tuple[ExactCache | None, SemanticCache | None]:
    settings: LlmProxySettings = request.app.state.settings
    if settings.admin_scope not in caller.scopes:
        raise Forbidden(f"cache administration needs scope {settings.admin_scope}")
    cache: ExactCache | None = request.app.state.cache
    semantic: SemanticCache | None = getattr(request.app.state, "semantic_cache", None)
    if cache is None and semantic is None:
        raise ServiceUnavailable("no cache is enabled (no Redis, no semantic cache configured)")
    return cache, semantic


@router.get("/stats", summary="Number of cached entries, optionally per namespace / model")
async def stats(
    request: Request, caller: Caller, namespace: Filter = None, model: Filter = None
) -> dict[str, Any]:
    cache, semantic = _admin_caches(request, caller)
    exact = await cache.count(namespace, model) if cache is not None else 0
    body: dict[str, Any] = {"entries": exact, "namespace": namespace, "model": model}
    if semantic is not None:
        body["semantic_entries"] = await semantic.count(namespace, model)
    return body


@router.delete("", summary="Invalidate entries by namespace (caller), model or key")
async def invalidate(
    request: Request,
    caller: Caller,
    namespace: Filter = None,
    model: Filter = None,
    key: Filter = None,
) -> dict[str, Any]:
    cache, semantic = _admin_caches(request, caller)
    deleted = await cache.invalidate(namespace, model, key) if cache is not None else 0
    if semantic is None:
        return {"deleted": deleted}
    dropped = await semantic.invalidate(namespace, model, key)
    return {"deleted": deleted + dropped, "semantic_deleted": dropped}
