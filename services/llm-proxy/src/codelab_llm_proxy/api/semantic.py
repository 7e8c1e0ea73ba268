"""Deciding what the semantic cache may do for a request, and doing it."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import Request

from codelab_common.errors import CodelabError
from codelab_llm_proxy.api.records import record_for
from codelab_llm_proxy.cache import is_cacheable
from codelab_llm_proxy.metrics import LlmMetrics
from codelab_llm_proxy.semantic_scope import semantic_query
from codelab_llm_proxy.settings import LlmProxySettings
from codelab_llm_proxy.streams import Frame
from codelab_llm_proxy.usage import CallRecord

if TYPE_CHECKING:  # the Qdrant client is imported only where a semantic cache is configured
    from codelab_llm_proxy.semantic_cache import SemanticCache

log = logging.getLogger(__name__)
KIND = "cache-embedding"


@dataclass
class SemanticPlan:
    """The embedded last user turn and its scope; whether a hit may be served."""

    cache: SemanticCache
    namespace: str
    model: str
    scope: str
    text: str
    read: bool
    metrics: LlmMetrics
    # The ledger record of the embedding call (kind ``cache-embedding``): the cache's own
    # cost is the caller's, and shows apart from the answers it saves.
    new_record: Callable[[], CallRecord]
    _vector: list[float] | None = None
    _failed: bool = False

    async def vector(self) -> list[float] | None:
        """The embedded last user turn, computed once and only when needed (not on exact hits)."""
        if self._vector is None and not self._failed:
            record = self.new_record()
            try:
                self._vector = await self.cache.embed(self.text, record)
            except (CodelabError, KeyError, IndexError, TypeError, ValueError) as exc:
                # The answer matters more than the cache: a failing embedder costs the lookup.
                log.warning("semantic cache: embedding failed, skipping it: %s", exc)
                self._failed = True
                code = exc.code if isinstance(exc, CodelabError) else "bad_embedding"
                record.finish(self.metrics, "error", code)
            else:
                record.finish(self.metrics, "ok")
        return self._vector

    def _count(self, hit: bool) -> None:
        self.metrics.semantic_cache.labels(self.model, "hit" if hit else "miss").inc()

    async def get_json(self) -> dict[str, Any] | None:
        vector = await self.vector() if self.read else None
        if vector is None:
            return None
        found = await self.cache.get_json(self.namespace, self.model, self.scope, vector)
        self._count(found is not None)
        return found

    async def get_frames(self) -> list[Frame] | None:
        vector = await self.vector() if self.read else None
        if vector is None:
            return None
        found = await self.cache.get_frames(self.namespace, self.model, self.scope, vector)
        self._count(found is not None)
        return found

    async def put_json(self, body: dict[str, Any]) -> None:
        if (vector := await self.vector()) is not None:
            await self.cache.put(
                self.namespace, self.model, self.scope, "json", vector, json.dumps(body)
            )

    async def put_frames(self, frames: list[Frame]) -> None:
        if (vector := await self.vector()) is not None:
            await self.cache.put_frames(self.namespace, self.model, self.scope, vector, frames)


def semantic_plan(
    request: Request, namespace: str, model: str, params: dict[str, Any], explicit: bool | None
) -> SemanticPlan | None:
    """None without a semantic cache, or for requests it must not answer."""
    cache: SemanticCache | None = getattr(request.app.state, "semantic_cache", None)
    if cache is None:
        return None
    settings: LlmProxySettings = request.app.state.settings
    if explicit is False:
        return None
    if settings.semantic_cache_deterministic_only and not is_cacheable(params, explicit):
        return None
    directives = {d.strip().lower() for d in request.headers.get("cache-control", "").split(",")}
    if "no-store" in directives:
        return None
    query = semantic_query(model, params)
    if query is None:
        return None
    text, scope = query
    metrics: LlmMetrics = request.app.state.llm_metrics

    def new_record() -> CallRecord:
        return record_for(request, namespace, cache.embedding_model, KIND)

    read = "no-cache" not in directives
    return SemanticPlan(cache, namespace, model, scope, text, read, metrics, new_record)
