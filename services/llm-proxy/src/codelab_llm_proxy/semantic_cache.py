"""Semantic response cache in Qdrant: a paraphrase of an answered question gets its answer.

The last user turn is embedded; everything else that shapes the answer is hashed into a
*scope* (see :mod:`codelab_llm_proxy.semantic_scope`) that must match exactly, and the
caller is the namespace. So a different agent, a different tool set or a
different conversation never receives another's answer, whatever the similarity.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from qdrant_client import AsyncQdrantClient, models

from codelab_llm_proxy.streams import Frame, frame_from_event
from codelab_llm_proxy.usage import CallRecord

# (text, the record to bind the serving deployment and usage to) -> vector
Embed = Callable[[str, CallRecord], Awaitable[list[float]]]
# Expired entries are hidden by the lookup filter at once, and deleted every this many writes
# so the collection (in local mode: this process's memory) does not grow without bound.
_PURGE_EVERY = 200


class SemanticCache:
    """Nearest-neighbour lookups of answers within (namespace, model, scope, delivery kind)."""

    def __init__(
        self,
        client: AsyncQdrantClient,
        collection: str,
        embed: Embed,
        threshold: float,
        ttl: float,
        *,
        embedding_model: str,
    ) -> None:
        self.embedding_model = embedding_model
        self._client = client
        self._collection = collection
        self._embed = embed
        self.threshold = threshold
        self._ttl = ttl
        self._ready = False
        self._writes = 0

    async def _ensure(self, size: int) -> None:
        if self._ready:
            return
        if not await self._client.collection_exists(self._collection):
            await self._client.create_collection(
                self._collection,
                vectors_config=models.VectorParams(size=size, distance=models.Distance.COSINE),
            )
        self._ready = True

    @staticmethod
    def _filter(
        namespace: str | None, model: str | None, scope: str | None = None, kind: str | None = None
    ) -> models.Filter:
        given = {"namespace": namespace, "model": model, "scope": scope, "kind": kind}
        return models.Filter(
            must=[
                models.FieldCondition(key=k, match=models.MatchValue(value=v))
                for k, v in given.items()
                if v is not None
            ]
        )

    async def lookup(
        self, namespace: str, model: str, scope: str, kind: str, vector: list[float]
    ) -> dict[str, Any] | None:
        """The payload of the closest fresh entry at or above the threshold."""
        if not self._ready and not await self._client.collection_exists(self._collection):
            return None
        query = self._filter(namespace, model, scope, kind)
        fresh = models.FieldCondition(
            key="created", range=models.Range(gte=time.time() - self._ttl)
        )
        query.must = [*(query.must or []), fresh]  # type: ignore[list-item]
        found = await self._client.query_points(
            self._collection,
            query=vector,
            query_filter=query,
            limit=1,
            score_threshold=self.threshold,
            with_payload=True,
        )
        return dict(found.points[0].payload or {}) if found.points else None

    async def embed(self, text: str, record: CallRecord) -> list[float]:
        return await self._embed(text, record)

    async def get_json(
        self, namespace: str, model: str, scope: str, vector: list[float]
    ) -> dict[str, Any] | None:
        hit = await self.lookup(namespace, model, scope, "json", vector)
        return json.loads(hit["body"]) if hit else None

    async def get_frames(
        self, namespace: str, model: str, scope: str, vector: list[float]
    ) -> list[Frame] | None:
        hit = await self.lookup(namespace, model, scope, "sse", vector)
        if hit is None:
            return None
        frames = [frame_from_event(e.encode(), None) for e in json.loads(hit["body"])]
        return [f for f in frames if f is not None]

    async def put(
        self, namespace: str, model: str, scope: str, kind: str, vector: list[float], body: str
    ) -> None:
        await self._ensure(len(vector))
        payload = {
            "namespace": namespace,
            "model": model,
            "scope": scope,
            "kind": kind,
            "body": body,
            "created": time.time(),
        }
        point = models.PointStruct(id=str(uuid.uuid4()), vector=vector, payload=payload)
        await self._client.upsert(self._collection, points=[point])
        self._writes += 1
        if self._writes % _PURGE_EVERY == 0:
            await self.purge_expired()

    async def purge_expired(self) -> None:
        expired = models.FieldCondition(
            key="created", range=models.Range(lt=time.time() - self._ttl)
        )
        await self._client.delete(
            self._collection,
            points_selector=models.FilterSelector(filter=models.Filter(must=[expired])),
        )

    async def put_frames(
        self, namespace: str, model: str, scope: str, vector: list[float], frames: list[Frame]
    ) -> None:
        events = [f.data.decode().rstrip("\n") for f in frames if not f.done]
        await self.put(namespace, model, scope, "sse", vector, json.dumps(events))

    async def invalidate(
        self, namespace: str | None = None, model: str | None = None, key: str | None = None
    ) -> int:
        """Drop entries by namespace and/or model (``key`` is an exact-cache key: none here)."""
        if key is not None or not await self._client.collection_exists(self._collection):
            return 0
        selector = self._filter(namespace, model)
        dropped = await self.count(namespace, model)
        await self._client.delete(
            self._collection, points_selector=models.FilterSelector(filter=selector)
        )
        return dropped

    async def count(self, namespace: str | None = None, model: str | None = None) -> int:
        if not await self._client.collection_exists(self._collection):
            return 0
        result = await self._client.count(
            self._collection, count_filter=self._filter(namespace, model), exact=True
        )
        return int(result.count)

    async def aclose(self) -> None:
        await self._client.close()
