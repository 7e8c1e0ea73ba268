"""The llm-proxy app: OpenAI-compatible ``/v1`` over litellm, behind client-credentials JWTs.

Run with ``uvicorn codelab_llm_proxy.app:create_app --factory --port 8084``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI
from redis.asyncio import Redis

from codelab_common.app import Lifespan, create_service_app
from codelab_common.http import create_http_client
from codelab_common.jwt import JwtVerifier
from codelab_common.logging import configure_logging
from codelab_common.redis import create_redis
from codelab_llm_proxy.accounting import Accountant
from codelab_llm_proxy.api import cache_admin, chat, models, usage
from codelab_llm_proxy.api.openai_errors import install_openai_error_handlers
from codelab_llm_proxy.api.shedding import LoadShedder
from codelab_llm_proxy.backend import LlmBackend
from codelab_llm_proxy.cache import ExactCache
from codelab_llm_proxy.config import ProxyConfig, load_config
from codelab_llm_proxy.errors import ConfigError
from codelab_llm_proxy.ledger.store import UsageLedger, create_engine
from codelab_llm_proxy.limits import Limiter
from codelab_llm_proxy.metrics import LlmMetrics
from codelab_llm_proxy.reload import ConfigReloader
from codelab_llm_proxy.settings import LlmProxySettings
from codelab_llm_proxy.tracing import default_tracer
from codelab_llm_proxy.usage import CallRecord

if TYPE_CHECKING:
    from codelab_llm_proxy.semantic_cache import SemanticCache

SERVICE = "llm-proxy"


def _semantic_cache(settings: LlmProxySettings, llm: LlmBackend) -> SemanticCache | None:
    model = settings.semantic_cache_embedding_model
    if not model:
        return None
    # Imported here: the Qdrant client (with grpc and numpy) is ~55 MB of RSS that a proxy
    # without a semantic cache should not carry.
    from qdrant_client import AsyncQdrantClient

    from codelab_llm_proxy.semantic_cache import SemanticCache

    if settings.semantic_cache_url:
        client = AsyncQdrantClient(url=settings.semantic_cache_url)
    else:
        path = settings.semantic_cache_path or str(settings.data_dir / "qdrant")
        client = (
            AsyncQdrantClient(location=":memory:")
            if path == ":memory:"
            else AsyncQdrantClient(path=path)
        )

    async def embed(text: str, record: CallRecord) -> list[float]:
        # In-process through our own routing, so the embedder gets failover and breakers too.
        routed = await llm.embed(model, {"input": [text]})
        record.bind(routed.deployment)
        record.add_usage(routed.result.get("usage"))
        return [float(x) for x in routed.result["data"][0]["embedding"]]

    return SemanticCache(
        client,
        settings.semantic_cache_collection,
        embed,
        settings.semantic_cache_threshold,
        settings.semantic_cache_ttl,
        embedding_model=model,
    )


def _limiter(
    redis: Redis, settings: LlmProxySettings, config: ProxyConfig, metrics: LlmMetrics
) -> Limiter:
    limiter = Limiter(redis, settings.redis_prefix, config.limits)

    def on_budget(scope: str, remaining: float, budget: float, crossed: bool) -> None:
        metrics.budget_remaining.labels(scope).set(remaining)
        if crossed:
            metrics.budget_alerts.labels(scope).inc()

    limiter.on_budget = on_budget
    return limiter


def _lifespan(settings: LlmProxySettings) -> Lifespan:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        config = load_config(settings.config_path)
        redis = create_redis(settings.redis_url) if settings.redis_url else None
        llm = LlmBackend(config, settings, redis)
        metrics: LlmMetrics = app.state.llm_metrics
        llm.engine.on_fallback = lambda model, served: metrics.fallbacks.labels(model, served).inc()
        llm.breaker.on_change = lambda dep, opened: metrics.breaker_open.labels(dep).set(opened)
        ledger = (
            UsageLedger(create_engine(settings.database_url)) if settings.ledger_enabled else None
        )
        if ledger is not None:
            await ledger.start()
        app.state.ledger = ledger
        limiter = _limiter(redis, settings, config, metrics) if redis else None

        def apply(new: ProxyConfig) -> None:
            llm.apply(new)
            if limiter is not None:
                tpm = {d.id: t for d in new.model_list if (t := d.limit("tpm")) is not None}
                limiter.configure(new.limits, tpm)

        apply(config)
        reloader = ConfigReloader(settings.config_path, apply) if settings.config_path else None
        if reloader is not None:
            reloader.start(settings.config_watch_interval)
        app.state.reloader = reloader
        accountant = Accountant(ledger, limiter)
        llm.engine.gate = accountant.admit_deployment if limiter is not None else None
        app.state.accountant = accountant
        app.state.cache = (
            ExactCache(redis, settings.redis_prefix, settings.cache_ttl)
            if redis is not None and settings.cache_enabled
            else None
        )
        semantic = _semantic_cache(settings, llm)
        app.state.semantic_cache = semantic
        http = create_http_client(timeout=settings.jwks_timeout)
        verifier = JwtVerifier(
            jwks_url=settings.jwks_url,
            issuer=settings.issuer,
            audience=settings.audience,
            http=http,
        )

        async def config_loaded() -> None:
            if not llm.config.model_names:
                raise ConfigError("no model is configured")

        app.state.llm = llm
        app.state.verifier = verifier
        app.state.readiness_checks["jwks"] = verifier.warm
        app.state.readiness_checks["models"] = config_loaded
        try:
            yield
        finally:
            if reloader is not None:
                await reloader.aclose()
            await http.aclose()
            await llm.aclose()
            await accountant.aclose()
            if semantic is not None:
                await semantic.aclose()
            if ledger is not None:
                await ledger.aclose()
            if redis is not None:
                await redis.aclose()

    return lifespan


def create_app(settings: LlmProxySettings | None = None) -> FastAPI:
    """Build the proxy; resources (router, JWKS client) are made in the lifespan."""
    settings = settings or LlmProxySettings()
    configure_logging(SERVICE, settings.log_level, settings.log_json)
    # litellm's router and the httpx fork it uses log every provider call (with URLs and
    # colour codes) at INFO; our own per-request line says what operators need.
    for noisy in ("LiteLLM Router", "LiteLLM Proxy", "httpx2"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    app = create_service_app(SERVICE, lifespan=_lifespan(settings), settings=settings)
    app.state.settings = settings
    app.state.llm_metrics = LlmMetrics(app.state.metrics_registry)
    app.state.tracer = default_tracer()
    app.include_router(chat.router)
    app.include_router(models.router)
    app.include_router(usage.router)
    app.include_router(cache_admin.router)
    install_openai_error_handlers(app)
    app.add_middleware(LoadShedder, limit=settings.max_in_flight)
    return app
