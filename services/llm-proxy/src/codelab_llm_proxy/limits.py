"""Rate limits (RPM/TPM) per caller and per deployment, and spend budgets, in Redis.

Windows are sliding-window counters: the current minute's count plus the previous minute's
weighted by how much of it still overlaps the last 60 s. Two keys per limit instead of one
sorted-set member per request, so a 10k RPM limit costs the same as a 10 RPM one. Shared by
every replica because the counters live in Redis.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Literal

import redis.asyncio as aioredis
from pydantic import BaseModel, ConfigDict, Field

from codelab_llm_proxy.errors import BudgetExceeded, RateLimited

_WINDOW = 60


class CallerLimits(BaseModel):
    """Limits of one caller (``sub``); ``None`` means unlimited."""

    model_config = ConfigDict(extra="forbid")

    rpm: int | None = Field(default=None, ge=1)
    tpm: int | None = Field(default=None, ge=1)
    budget_usd: float | None = Field(default=None, ge=0)
    period: Literal["day", "month"] = "day"


class LimitsConfig(BaseModel):
    """The ``limits:`` section: ``default`` applies to callers without an entry."""

    model_config = ConfigDict(extra="forbid")

    default: CallerLimits = Field(default_factory=CallerLimits)
    callers: dict[str, CallerLimits] = Field(default_factory=dict)

    def for_caller(self, caller: str) -> CallerLimits:
        return self.callers.get(caller, self.default)


class Limiter:
    """Checks before a call, accounting after it."""

    def __init__(
        self,
        redis: aioredis.Redis,
        prefix: str,
        config: LimitsConfig,
        deployment_tpm: dict[str, int] | None = None,
    ) -> None:
        self._redis = redis
        self._prefix = f"{prefix}llm-proxy:limit:"
        self.config = config
        # Only limited deployments are counted: no Redis round trip for the others.
        self._deployment_tpm = deployment_tpm or {}

    def configure(self, config: LimitsConfig, deployment_tpm: dict[str, int]) -> None:
        self.config, self._deployment_tpm = config, deployment_tpm

    async def _window(self, name: str, add: int) -> tuple[float, float]:
        """(requests-or-tokens in the sliding minute, seconds until the current minute ends)."""
        now = time.time()
        minute = int(now // _WINDOW)
        current, previous = f"{self._prefix}{name}:{minute}", f"{self._prefix}{name}:{minute - 1}"
        pipe = self._redis.pipeline(transaction=False)
        if add:
            pipe.incrby(current, add)
            pipe.expire(current, 2 * _WINDOW)
        else:
            pipe.get(current)
        pipe.get(previous)
        values = await pipe.execute()
        count = int(values[0] or 0)
        overlap = 1 - (now % _WINDOW) / _WINDOW
        return count + int(values[-1] or 0) * overlap, _WINDOW - now % _WINDOW

    async def admit(self, scope: str, rpm: int | None, tpm: int | None) -> None:
        """Count a request against ``scope``; 429 with Retry-After when over RPM or TPM."""
        if tpm is not None:
            used, reset = await self._window(f"{scope}:tpm", 0)
            if used >= tpm:
                raise RateLimited(f"{scope}: token limit of {tpm}/min reached", retry_after=reset)
        if rpm is not None:
            used, reset = await self._window(f"{scope}:rpm", 1)
            if used > rpm:
                raise RateLimited(f"{scope}: request limit of {rpm}/min reached", retry_after=reset)

    async def admit_caller(self, caller: str) -> None:
        limits = self.config.for_caller(caller)
        await self.admit(f"caller:{caller}", limits.rpm, limits.tpm)
        if limits.budget_usd is not None:
            spent = float(await self._redis.get(self._budget_key(caller, limits.period)) or 0)
            if spent >= limits.budget_usd:
                raise BudgetExceeded(
                    f"budget of ${limits.budget_usd:g} per {limits.period} is spent "
                    f"(${spent:.4f}); it resets at the start of the next {limits.period}"
                )

    async def account(self, caller: str, deployment: str | None, tokens: int, cost: float) -> None:
        """After a call: tokens into the TPM windows, cost into the budget."""
        limits = self.config.for_caller(caller)
        if tokens and limits.tpm is not None:
            await self._window(f"caller:{caller}:tpm", tokens)
        if tokens and deployment in self._deployment_tpm:
            await self._window(f"deployment:{deployment}:tpm", tokens)
        if cost and limits.budget_usd is not None:
            key = self._budget_key(caller, limits.period)
            pipe = self._redis.pipeline(transaction=False)
            pipe.incrbyfloat(key, cost)
            pipe.expire(key, 32 * 86400)
            await pipe.execute()

    def _budget_key(self, caller: str, period: str) -> str:
        now = datetime.now(UTC)
        stamp = now.strftime("%Y-%m-%d") if period == "day" else now.strftime("%Y-%m")
        return f"{self._prefix}budget:{caller}:{stamp}"
