"""The gateway app: ACP WebSocket at ``/acp``, REST/SSE at ``/v1/sessions``.

Run with ``uvicorn codelab_gateway.app:create_app --factory``. The gateway keeps nothing
durable and no shared state in memory: the registry and the streams are in Redis, so any
number of replicas can run side by side.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

from fastapi import FastAPI

from codelab_common.app import create_service_app
from codelab_common.dpop import DpopVerifier, RedisReplays
from codelab_common.http import create_http_client
from codelab_common.jwt import JwtVerifier
from codelab_common.logging import configure_logging
from codelab_common.redis import create_redis
from codelab_common.sessions import RedisSessionChannel
from codelab_gateway.access import SessionAccess
from codelab_gateway.api import acp, sessions
from codelab_gateway.auth import Authenticator
from codelab_gateway.metrics import GatewayMetrics
from codelab_gateway.rest import RestRelay
from codelab_gateway.settings import GatewaySettings
from codelab_gateway.state import GatewayState

SERVICE = "gateway"


def _version() -> str:
    try:
        return version("codelab-gateway")
    except PackageNotFoundError:  # running from a source tree without metadata
        return "0.0.0"


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    """Build a gateway app; resources are created in its lifespan and closed on exit."""
    settings = settings or GatewaySettings()
    configure_logging(SERVICE, settings.log_level, settings.log_json)
    app_version = _version()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis = create_redis(settings.redis_url)
        http = create_http_client(timeout=10.0)
        verifier = JwtVerifier(
            jwks_url=settings.jwks_url,
            issuer=settings.issuer,
            audience=settings.audience,
            http=http,
        )
        channel = RedisSessionChannel(
            redis, settings.redis_prefix, retention_ms=settings.session_retention_ms
        )
        metrics = GatewayMetrics(app.state.metrics_registry)
        app.state.gateway = GatewayState(
            settings=settings,
            channel=channel,
            access=SessionAccess(channel),
            authenticator=Authenticator(
                verifier,
                metrics,
                DpopVerifier(shared=RedisReplays(redis, settings.redis_prefix)),
            ),
            metrics=metrics,
            rest=RestRelay(
                channel,
                metrics,
                block_ms=settings.relay_block_ms,
                create_timeout=settings.session_create_timeout,
            ),
            version=app_version,
        )

        async def redis_ready() -> None:
            await redis.ping()

        app.state.readiness_checks["redis"] = redis_ready
        app.state.readiness_checks["jwks"] = verifier.warm
        try:
            yield
        finally:
            await http.aclose()
            await redis.aclose()

    app = create_service_app(SERVICE, lifespan=lifespan, settings=settings, version=app_version)
    app.include_router(acp.router)
    app.include_router(sessions.router)
    return app
