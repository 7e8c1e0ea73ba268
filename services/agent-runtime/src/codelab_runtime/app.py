"""The runtime service: probes and metrics over HTTP; the agent work runs in the lifespan."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from codelab_common.app import create_service_app
from codelab_common.eventbus import EventBus
from codelab_common.http import create_http_client
from codelab_common.logging import configure_logging
from codelab_common.redis import create_redis
from codelab_common.sessions import RedisSessionChannel
from codelab_common.settings import secret_value
from codelab_runtime.adapters.model_info import context_window_of
from codelab_runtime.adapters.openai_model import OpenAIChatModel
from codelab_runtime.adapters.tokens import ClientCredentialsTokens
from codelab_runtime.agents.custom import load_agents
from codelab_runtime.agents.specs import AgentSpec, default_agents
from codelab_runtime.condense import Condenser
from codelab_runtime.model.base import ChatModel
from codelab_runtime.model_window import DEFAULT_CONTEXT_WINDOW, ModelWindow
from codelab_runtime.persistence.store import SessionStore, create_engine, migrate
from codelab_runtime.runtime_deps import Prices, RuntimeDeps
from codelab_runtime.settings import RuntimeSettings
from codelab_runtime.subscribers import install_subscribers
from codelab_runtime.tools.client_ops import ToolLimits
from codelab_runtime.tools.policy import ApprovalPolicy
from codelab_runtime.worker import RuntimeSupervisor


def create_app(
    settings: RuntimeSettings | None = None, *, chat_model: ChatModel | None = None
) -> FastAPI:
    """Build the runtime app; the supervisor starts with the lifespan and stops with it.

    ``chat_model`` replaces the llm-proxy adapter (tests and demos pass a scripted model).
    """
    settings = settings or RuntimeSettings()
    configure_logging("agent-runtime", settings.log_level, settings.log_json)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis = create_redis(settings.redis_url)
        engine = create_engine(settings.resolved_database_url())
        http = create_http_client(timeout=settings.llm_timeout_s)
        try:
            await migrate(engine)
            store = SessionStore(engine)
            bus = EventBus()
            install_subscribers(bus, store, app.state.metrics_registry)
            secret = secret_value(settings.client_secret)
            tokens = (
                ClientCredentialsTokens(
                    http,
                    settings.token_url,
                    settings.client_id,
                    secret,
                    scope=settings.token_scope,
                    resource=settings.token_resource,
                )
                if secret
                else None
            )
            model: ChatModel = chat_model or OpenAIChatModel(
                http,
                settings.llm_proxy_url,
                settings.model,
                tokens,
                allow_requests=settings.allow_model_requests,
            )
            window = ModelWindow(
                settings.context_window_tokens or DEFAULT_CONTEXT_WINDOW,
                known=settings.context_window_tokens is not None,
            )
            deps = RuntimeDeps(
                model=model,
                bus=bus,
                store=store,
                agents=_agents(settings),
                limits=ToolLimits(settings.command_timeout_s, settings.tool_output_limit_bytes),
                max_model_calls=settings.max_model_calls_per_turn,
                max_tool_calls=settings.max_tool_calls_per_turn,
                prices=Prices(
                    settings.price_input_per_mtok,
                    settings.price_output_per_mtok,
                    settings.max_cost_usd_per_turn,
                ),
                default_mode=settings.default_mode,
                policy=ApprovalPolicy(
                    command_allow=tuple(settings.command_allow),
                    command_deny=tuple(settings.command_deny),
                    edit_allow=tuple(settings.edit_auto_approve),
                ),
                context_window=window,
                condenser=Condenser(
                    _condense_model(model, settings, http, tokens), settings.condense_at_ratio
                ),
            )
            channel = RedisSessionChannel(
                redis, settings.redis_prefix, retention_ms=settings.session_retention_ms
            )
            supervisor = RuntimeSupervisor(
                channel,
                deps,
                settings.instance_id,
                lease_ttl_ms=settings.lease_ttl_ms,
                idle_release_s=settings.idle_release_s,
                wakeup_block_ms=settings.wakeup_block_ms,
            )

            async def redis_ready() -> None:
                await redis.ping()

            app.state.readiness_checks["redis"] = redis_ready
            app.state.readiness_checks["database"] = store.ping
            app.state.settings = settings
            app.state.bus = bus
            app.state.store = store
            app.state.supervisor = supervisor
            supervisor.start()
            learning = _learn_window(window, settings, model, http, tokens)
            try:
                yield
            finally:
                if learning is not None:
                    learning.cancel()
                await supervisor.stop()
        finally:
            await http.aclose()
            await engine.dispose()
            await redis.aclose()

    return create_service_app(
        "agent-runtime", lifespan=lifespan, settings=settings, title="CodeLab agent runtime"
    )


def _learn_window(
    window: ModelWindow,
    settings: RuntimeSettings,
    model: ChatModel,
    http: httpx.AsyncClient,
    tokens: ClientCredentialsTokens | None,
) -> asyncio.Task[None] | None:
    """Ask the llm-proxy for the model's window in the background, unless it is configured."""
    if window.known or not isinstance(model, OpenAIChatModel):
        return None
    if not settings.allow_model_requests:
        return None

    async def ask() -> int | None:
        return await context_window_of(http, settings.llm_proxy_url, settings.model, tokens)

    return asyncio.create_task(window.learn(ask), name="learn-context-window")


def _condense_model(
    model: ChatModel,
    settings: RuntimeSettings,
    http: httpx.AsyncClient,
    tokens: ClientCredentialsTokens | None,
) -> ChatModel:
    """The summarising model: a configured (cheaper) one, else the main model."""
    if not settings.condense_model or not isinstance(model, OpenAIChatModel):
        return model
    return OpenAIChatModel(
        http,
        settings.llm_proxy_url,
        settings.condense_model,
        tokens,
        allow_requests=settings.allow_model_requests,
    )


def _agents(settings: RuntimeSettings) -> dict[str, AgentSpec]:
    agents = default_agents(debug_may_edit=settings.debug_may_edit)
    return load_agents(settings.agents_file, agents) if settings.agents_file else agents
