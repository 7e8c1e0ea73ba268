"""Exact-cache administration (admin scope): statistics and invalidation."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from codelab_common.errors import Forbidden, ServiceUnavailable
from codelab_llm_proxy.api.deps import Caller
from codelab_llm_proxy.cache import ExactCache
from codelab_llm_proxy.settings import LlmProxySettings

router = APIRouter(prefix="/v1/cache", tags=["cache"])
Filter = Annotated[str | None, Query()]


def _admin_cache(request: Request, caller: Caller) -> ExactCache:
    settings: LlmProxySettings = request.app.state.settings
    if settings.admin_scope not in caller.scopes:
        raise Forbidden(f"cache administration needs scope {settings.admin_scope}")
    cache: ExactCache | None = request.app.state.cache
    if cache is None:
        raise ServiceUnavailable("the exact cache is disabled (no Redis configured)")
    return cache


@router.get("/stats", summary="Number of cached entries, optionally per namespace / model")
async def stats(
    request: Request, caller: Caller, namespace: Filter = None, model: Filter = None
) -> dict[str, Any]:
    cache = _admin_cache(request, caller)
    return {"entries": await cache.count(namespace, model), "namespace": namespace, "model": model}


@router.delete("", summary="Invalidate entries by namespace (caller), model or key")
async def invalidate(
    request: Request,
    caller: Caller,
    namespace: Filter = None,
    model: Filter = None,
    key: Filter = None,
) -> dict[str, Any]:
    cache = _admin_cache(request, caller)
    return {"deleted": await cache.invalidate(namespace, model, key)}
