"""The auth service app: ``uvicorn codelab_auth.app:create_app --factory``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from argon2 import PasswordHasher
from authlib.common.security import is_secure_transport
from fastapi import FastAPI
from sqlalchemy import text

from codelab_auth.adapters.db import create_engine, create_session_factory
from codelab_auth.adapters.migrate import upgrade
from codelab_auth.adapters.models import RevokedToken
from codelab_auth.admin import seed_demo
from codelab_auth.api import admin, authorize, device, discovery, oauth
from codelab_auth.api.admin import ADMIN_AUDIENCE
from codelab_auth.context import AuthContext
from codelab_auth.housekeeping import purge_expired
from codelab_auth.keys import Keyring
from codelab_auth.oauth.server import TokenPolicy
from codelab_auth.passwords import SecretHasher
from codelab_auth.rotation import maintain
from codelab_auth.settings import AuthSettings
from codelab_auth.throttle import LoginThrottle, MemoryCounters, RedisCounters
from codelab_auth.totp import TotpCodec
from codelab_common.app import create_service_app
from codelab_common.dpop import DpopVerifier, RedisReplays
from codelab_common.jwt import JwtVerifier
from codelab_common.logging import configure_logging
from codelab_common.redis import create_redis

SERVICE = "auth"
log = logging.getLogger(__name__)


def _warn_about_settings(settings: AuthSettings) -> None:
    if settings.uses_dev_secret:
        log.warning(
            "CODELAB_AUTH_KEY_ENCRYPTION_SECRET is not set: signing keys are encrypted with "
            "the PUBLIC development default. Set a real secret before exposing this service."
        )
    if not is_secure_transport(settings.issuer):
        log.warning(
            "issuer is neither https nor loopback; authlib will refuse token requests",
            extra={"issuer": settings.issuer},
        )


@asynccontextmanager
async def open_context(settings: AuthSettings) -> AsyncIterator[AuthContext]:
    """Database migrated, keys ready, demo seeded if asked; disposed on exit.

    Shared by the app lifespan and the admin CLI, so both see the same state.
    """
    engine = create_engine(settings.database_url)
    redis = create_redis(settings.redis_url) if settings.redis_url else None
    try:
        await upgrade(engine)
        sessions = create_session_factory(engine)
        keyring = Keyring(sessions, settings.key_encryption_secret, settings.key_cache_ttl)
        hasher = SecretHasher(
            PasswordHasher(
                time_cost=settings.argon2_time_cost,
                memory_cost=settings.argon2_memory_kib,
                parallelism=settings.argon2_parallelism,
            )
        )
        policy = TokenPolicy(
            hasher=hasher,
            refresh_token_ttl=settings.refresh_token_ttl,
            code_ttl=settings.authorization_code_ttl,
            session_max_age=settings.session_max_age,
            device_code_ttl=settings.device_code_ttl,
            device_poll_interval=settings.device_poll_interval,
            totp=TotpCodec(settings.key_encryption_secret),
            throttle=LoginThrottle(
                RedisCounters(redis, settings.redis_prefix) if redis else MemoryCounters(),
                settings.throttle_policy,
            ),
        )
        # With Redis a DPoP proof is single-use across every auth replica, not per process.
        shared = RedisReplays(redis, settings.redis_prefix) if redis else None
        yield AuthContext(
            settings, engine, sessions, keyring, policy, redis, DpopVerifier(shared=shared)
        )
    finally:
        if redis is not None:
            await redis.aclose()
        await engine.dispose()


async def _is_revoked(context: AuthContext, jti: str) -> bool:
    async with context.sessions() as session:
        return await session.get(RevokedToken, jti) is not None


async def _rotate_keys_forever(context: AuthContext) -> None:
    """Scheduled key rotation and purging of expired rows; every replica runs it (idempotent)."""
    settings = context.settings
    while True:
        await asyncio.sleep(settings.key_check_interval)
        try:
            if await maintain(
                context.sessions, settings.key_encryption_secret, settings.rotation_policy
            ):
                await context.keyring.reload()
            await purge_expired(context.sessions)
        except Exception:  # a failed step is retried next round; the service keeps serving
            log.exception("scheduled maintenance step failed")


def create_app(settings: AuthSettings | None = None) -> FastAPI:
    """Build the auth app; resources are made in the lifespan, not here."""
    settings = settings or AuthSettings()
    configure_logging(SERVICE, settings.log_level, settings.log_json)
    # aiosqlite logs every statement with its parameters (hashes included) at DEBUG.
    logging.getLogger("aiosqlite").setLevel(logging.INFO)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        _warn_about_settings(settings)
        async with open_context(settings) as context:
            await context.keyring.ensure_key()
            if settings.seed_demo:
                await seed_demo(context.sessions, context.policy.hasher)
            app.state.auth = context

            async def database() -> None:
                async with context.engine.connect() as connection:
                    await connection.execute(text("SELECT 1"))

            app.state.readiness_checks["database"] = database
            if context.redis is not None:
                redis = context.redis

                async def redis_ping() -> None:
                    await redis.ping()

                app.state.readiness_checks["redis"] = redis_ping
            rotation = asyncio.create_task(_rotate_keys_forever(context))
            # The admin API checks tokens with the shared verifier, fed by our own JWKS
            # in-process (no network hop, same rules as every resource server).
            self_http = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://auth"
            )
            app.state.admin_verifier = JwtVerifier(
                jwks_url="http://auth/.well-known/jwks.json",
                issuer=settings.issuer,
                audience=ADMIN_AUDIENCE,
                http=self_http,
                is_revoked=lambda jti: _is_revoked(context, jti),
            )
            try:
                yield
            finally:
                await self_http.aclose()
                rotation.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await rotation

    app = create_service_app(SERVICE, lifespan=lifespan, settings=settings, title="CodeLab auth")
    app.include_router(oauth.router)
    app.include_router(authorize.router)
    app.include_router(device.router)
    app.include_router(admin.router)
    app.include_router(discovery.router)
    return app
