"""The model backend the routes use: our routing over the fast path and the litellm path."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from codelab_llm_proxy.adapters.fast_path import FastPath
from codelab_llm_proxy.adapters.litellm_router import LitellmPath
from codelab_llm_proxy.adapters.local_embed import LocalEmbedder
from codelab_llm_proxy.config import Deployment, ProxyConfig
from codelab_llm_proxy.routing.breaker import Breaker
from codelab_llm_proxy.routing.engine import Engine, Limits, Routed
from codelab_llm_proxy.routing.health import Health
from codelab_llm_proxy.settings import LlmProxySettings
from codelab_llm_proxy.streams import FrameStream


def limits_for(config: ProxyConfig, settings: LlmProxySettings) -> Limits:
    policy = config.router
    attempt = policy.attempt_timeout or settings.request_timeout
    return Limits(
        retries=settings.num_retries if policy.retries is None else policy.retries,
        attempt_timeout=attempt,
        total_timeout=policy.total_timeout or max(attempt, settings.request_timeout),
        stream_idle_timeout=policy.stream_idle_timeout or settings.request_timeout,
    )


class LlmBackend:
    """Completions, streams and embeddings, each routed with failover."""

    def __init__(
        self, config: ProxyConfig, settings: LlmProxySettings, redis: aioredis.Redis | None
    ) -> None:
        self.config = config
        self._settings = settings
        self.limits = limits_for(config, settings)
        self.fast = FastPath(
            timeout=self.limits.attempt_timeout, max_connections=settings.max_connections
        )
        self.lite = LitellmPath(timeout=self.limits.attempt_timeout)
        self.local = LocalEmbedder()
        self._warm_litellm(config)
        self.breaker = Breaker(redis, settings.redis_prefix, config.router.breaker)
        self.engine = Engine(config, self.breaker, Health(), self.limits)

    def _warm_litellm(self, config: ProxyConfig) -> None:
        # Import now rather than stall the event loop on the first litellm-path call.
        if any(not d.uses_fast_path for d in config.model_list):
            self.lite.warm()

    def apply(self, config: ProxyConfig) -> None:
        """Serve ``config`` from now on; calls in flight finish on the deployment they have."""
        self._warm_litellm(config)
        self.config = config
        self.limits = limits_for(config, self._settings)
        self.engine.config, self.engine.limits = config, self.limits
        self.lite.timeout = self.limits.attempt_timeout
        self.breaker.policy = config.router.breaker

    async def aclose(self) -> None:
        await self.fast.aclose()

    async def complete(self, model: str, params: dict[str, Any]) -> Routed[dict[str, Any]]:
        async def call(deployment: Deployment, budget: float) -> dict[str, Any]:
            if deployment.uses_fast_path:
                return await self.fast.complete(deployment, params)
            return await self.lite.complete(deployment, params)

        return await self.engine.run(model, call)

    async def open_stream(self, model: str, params: dict[str, Any]) -> Routed[FrameStream]:
        async def call(deployment: Deployment, budget: float) -> FrameStream:
            if deployment.uses_fast_path:
                return await self.fast.open_stream(deployment, params)
            return await self.lite.open_stream(deployment, params)

        return await self.engine.run(model, call)

    async def embed(self, model: str, params: dict[str, Any]) -> Routed[dict[str, Any]]:
        async def call(deployment: Deployment, budget: float) -> dict[str, Any]:
            if deployment.provider == "local":
                return await self.local.embed(deployment, params)
            if deployment.uses_fast_path:
                return await self.fast.embed(deployment, params)
            return await self.lite.embed(deployment, params)

        return await self.engine.run(model, call)
