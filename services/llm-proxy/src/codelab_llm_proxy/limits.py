"""Rate limits (RPM/TPM) per caller and per deployment, and spend budgets, in Redis.

Windows are sliding-window counters: the current minute's count plus the previous minute's
weighted by how much of it still overlaps the last 60 s. Two keys per limit instead of one
sorted-set member per request, so a 10k RPM limit costs the same as a 10 RPM one. Shared by
every replica because the counters live in Redis.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import redis.asyncio as aioredis
from pydantic import BaseModel, ConfigDict, Field, model_validator

from codelab_llm_proxy.errors import BudgetExceeded, RateLimited

_WINDOW = 60
log = logging.getLogger(__name__)
# (scope, remaining USD, budget USD, crossed the soft alert threshold just now)
BudgetObserver = Callable[[str, float, float, bool], None]


class CallerLimits(BaseModel):
    """Limits of one caller (``sub``); ``None`` means unlimited."""

    model_config = ConfigDict(extra="forbid")

    rpm: int | None = Field(default=None, ge=1)
    tpm: int | None = Field(default=None, ge=1)
    budget_usd: float | None = Field(default=None, ge=0)
    period: Literal["day", "month"] = "day"
    # Soft alert: a warning log line and a metric once spend crosses this share of the budget.
    alert_at: float | None = Field(default=None, gt=0, le=1)


class TeamBudget(BaseModel):
    """A spend budget shared by every caller mapped to the team."""

    model_config = ConfigDict(extra="forbid")

    budget_usd: float = Field(ge=0)
    period: Literal["day", "month"] = "month"
    alert_at: float | None = Field(default=None, gt=0, le=1)


class LimitsConfig(BaseModel):
    """The ``limits:`` section: ``default`` applies to callers without an entry."""

    model_config = ConfigDict(extra="forbid")

    default: CallerLimits = Field(default_factory=CallerLimits)
    callers: dict[str, CallerLimits] = Field(default_factory=dict)
    teams: dict[str, TeamBudget] = Field(default_factory=dict)
    team_of: dict[str, str] = Field(default_factory=dict, description="caller (sub) -> team")

    @model_validator(mode="after")
    def _known_teams(self) -> LimitsConfig:
        unknown = sorted(set(self.team_of.values()) - set(self.teams))
        if unknown:
            raise ValueError(f"limits.team_of names teams without a budget: {unknown}")
        return self

    def for_caller(self, caller: str) -> CallerLimits:
        return self.callers.get(caller, self.default)

    def budgets(self, caller: str) -> list[Budget]:
        """The spend budgets a caller's calls count against: its own, then its team's."""
        found: list[Budget] = []
        own = self.for_caller(caller)
        if own.budget_usd is not None:
            found.append(Budget(f"caller:{caller}", own.budget_usd, own.period, own.alert_at))
        team = self.team_of.get(caller)
        if team is not None:
            shared = self.teams[team]
            found.append(Budget(f"team:{team}", shared.budget_usd, shared.period, shared.alert_at))
        return found


@dataclass(frozen=True)
class Budget:
    """One budget to check and charge: ``scope`` is ``caller:<sub>`` or ``team:<name>``."""

    scope: str
    usd: float
    period: str
    alert_at: float | None


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
        self.on_budget: BudgetObserver | None = None

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
        for budget in self.config.budgets(caller):
            spent = float(await self._redis.get(self._budget_key(budget)) or 0)
            self._observe(budget, spent, crossed=False)
            if spent >= budget.usd:
                whose = "team " + budget.scope[5:] if budget.scope.startswith("team:") else "your"
                raise BudgetExceeded(
                    f"{whose} budget of ${budget.usd:g} per {budget.period} is spent "
                    f"(${spent:.4f}); it resets at the start of the next {budget.period}"
                )

    def _observe(self, budget: Budget, spent: float, *, crossed: bool) -> None:
        if crossed:
            log.warning(
                "budget alert: %s has spent $%.4f of $%g per %s (alert at %g%%)",
                budget.scope,
                spent,
                budget.usd,
                budget.period,
                (budget.alert_at or 0) * 100,
            )
        if self.on_budget is not None:
            self.on_budget(budget.scope, max(budget.usd - spent, 0.0), budget.usd, crossed)

    async def account(self, caller: str, deployment: str | None, tokens: int, cost: float) -> None:
        """After a call: tokens into the TPM windows, cost into the budget."""
        limits = self.config.for_caller(caller)
        if tokens and limits.tpm is not None:
            await self._window(f"caller:{caller}:tpm", tokens)
        if tokens and deployment in self._deployment_tpm:
            await self._window(f"deployment:{deployment}:tpm", tokens)
        for budget in self.config.budgets(caller) if cost else []:
            key = self._budget_key(budget)
            pipe = self._redis.pipeline(transaction=False)
            pipe.incrbyfloat(key, cost)
            pipe.expire(key, 32 * 86400)
            spent = float((await pipe.execute())[0])
            # INCRBYFLOAT is atomic, so exactly one call (on any replica) sees the crossing.
            line = budget.usd * budget.alert_at if budget.alert_at is not None else None
            crossed = line is not None and spent - cost < line <= spent
            self._observe(budget, spent, crossed=crossed)

    def _budget_key(self, budget: Budget) -> str:
        now = datetime.now(UTC)
        stamp = now.strftime("%Y-%m-%d") if budget.period == "day" else now.strftime("%Y-%m")
        # Callers keep their pre-team key (budget:<sub>:...) so running spend carries over.
        scope = budget.scope.removeprefix("caller:")
        return f"{self._prefix}budget:{scope}:{stamp}"
