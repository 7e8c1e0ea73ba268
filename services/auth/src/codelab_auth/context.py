"""The resources one running auth app holds, created in the lifespan."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

import redis.asyncio as aioredis
from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from codelab_auth.keys import Keyring
from codelab_auth.oauth.server import TokenPolicy
from codelab_auth.settings import AuthSettings
from codelab_common.dpop import DpopVerifier


@dataclass(frozen=True)
class AuthContext:
    """Settings, database and keys of the app (``app.state.auth``)."""

    settings: AuthSettings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    keyring: Keyring
    policy: TokenPolicy
    redis: aioredis.Redis | None = None  # failed-login counters, when configured
    dpop: DpopVerifier = field(default_factory=DpopVerifier)  # proofs at the token endpoint


def get_context(request: Request) -> AuthContext:
    context: AuthContext = request.app.state.auth
    return context


ContextDep = Annotated[AuthContext, Depends(get_context)]
