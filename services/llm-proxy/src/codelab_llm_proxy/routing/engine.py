"""Failover: the pool of the requested model, then its fallbacks, with retries and deadlines.

Retryable errors (timeouts, 429, 5xx, connection failures) are retried on the same
deployment with full-jitter exponential back-off, then the next deployment is tried; a
misconfigured deployment (the provider answered 401/403/404) is not retried but counts
against its breaker and the next deployment is tried; a request the provider refused
(400) fails at once. Deployments whose circuit is open are skipped; if every deployment of
the chain is open and a degraded model is configured, it serves and the response is flagged.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from codelab_common.errors import CodelabError
from codelab_llm_proxy.config import Deployment, ProxyConfig
from codelab_llm_proxy.errors import (
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    is_context_overflow,
    is_deployment_fault,
    is_retryable,
)
from codelab_llm_proxy.routing.breaker import Breaker
from codelab_llm_proxy.routing.health import Health

T = TypeVar("T")
Attempt = Callable[[Deployment, float], Awaitable[T]]


@dataclass
class Routed(Generic[T]):
    """A result and who produced it."""

    result: T
    deployment: Deployment
    attempts: int
    degraded: bool = False


@dataclass
class Limits:
    """Deadlines and retries after merging the config's ``router`` with service settings."""

    retries: int
    attempt_timeout: float
    total_timeout: float
    stream_idle_timeout: float


class Engine:
    """Runs one call across deployments until one succeeds or the deadline passes."""

    def __init__(self, config: ProxyConfig, breaker: Breaker, health: Health, limits: Limits):
        self.config = config
        self.breaker = breaker
        self.health = health
        self.limits = limits
        self.on_fallback: Callable[[str, str], None] = lambda model, served: None
        # Per-deployment RPM/TPM (limits.py); None: no limits (no Redis).
        self.gate: Callable[[Deployment], Awaitable[bool]] | None = None

    def _backoff(self, attempt: int) -> float:
        policy = self.config.router
        ceiling = min(policy.backoff_max, policy.backoff_base * 2**attempt)
        return random.uniform(0, ceiling)

    async def run(self, model: str, call: Attempt[T]) -> Routed[T]:
        # One deadline for the whole request, the context-window fallback included.
        deadline = time.monotonic() + self.limits.total_timeout
        try:
            return await self._run(model, call, deadline)
        except ProviderRejected as exc:
            larger = self.config.router.context_fallbacks.get(model)
            if larger is None or not is_context_overflow(exc):
                raise
            routed = await self._run(larger, call, deadline)
            self.on_fallback(model, larger)
            return routed

    async def _run(self, model: str, call: Attempt[T], deadline: float) -> Routed[T]:
        state = _State()
        for name in self.config.router.chain(model):
            routed = await self._pool(name, call, deadline, state)
            if routed is not None:
                if name != model:
                    self.on_fallback(model, name)
                return routed
        degraded = self.config.router.degraded.get(model)
        if state.attempts == 0 and degraded is not None:
            routed = await self._pool(degraded, call, deadline, state)
            if routed is not None:
                routed.degraded = True
                self.on_fallback(model, degraded)
                return routed
        if state.last_error is not None:
            raise state.last_error
        if state.limited:
            raise RateLimited(
                f"every deployment of model '{model}' is at its rate limit", retry_after=1
            )
        raise ProviderUnavailable(
            f"every deployment of model '{model}' is unavailable (circuit open)",
            retry_after=self.config.router.breaker.cooldown,
        )

    async def _pool(
        self, name: str, call: Attempt[T], deadline: float, state: _State
    ) -> Routed[T] | None:
        pool = self.health.order(self.config.pool(name), self.config.router.balancing)
        for deployment in pool:
            if self.gate is not None and not await self.gate(deployment):
                state.limited = True
                continue
            if not await self.breaker.allow(deployment.id):
                continue
            for retry in range(self.limits.retries + 1):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise state.last_error or ProviderTimeout(f"model '{name}': deadline passed")
                state.attempts += 1
                try:
                    result = await self._attempt(deployment, call, remaining)
                except CodelabError as exc:
                    misconfigured = is_deployment_fault(exc)
                    if not (misconfigured or is_retryable(exc)):
                        raise
                    state.last_error = exc
                    # A misconfigured deployment fails again at once: on to the next one.
                    if await self.breaker.failure(deployment.id) or misconfigured:
                        break
                    if retry < self.limits.retries:
                        pause = min(self._backoff(retry), max(0.0, deadline - time.monotonic()))
                        await asyncio.sleep(pause)
                    continue
                await self.breaker.success(deployment.id)
                return Routed(result, deployment, state.attempts)
        return None

    async def _attempt(self, deployment: Deployment, call: Attempt[T], remaining: float) -> T:
        budget = min(self.limits.attempt_timeout, remaining)
        started = time.perf_counter()
        self.health.started(deployment.id)
        latency: float | None = None
        try:
            async with asyncio.timeout(budget):
                result = await call(deployment, budget)
            latency = time.perf_counter() - started
            return result
        except TimeoutError as exc:
            raise ProviderTimeout(
                f"model '{deployment.model_name}': no answer within {budget:.1f}s"
            ) from exc
        finally:
            self.health.ended(deployment.id, latency)


@dataclass
class _State:
    attempts: int = 0
    last_error: CodelabError | None = None
    limited: bool = False
