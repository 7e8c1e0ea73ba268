"""One model call's account: who asked, for what, how long it took, what it cost in tokens.

Feeds the metrics and the per-request log line; the usage ledger (a later issue) will
persist the same record. Never holds prompt text or credentials.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.trace import Span

from codelab_llm_proxy.config import Deployment, Price
from codelab_llm_proxy.metrics import LlmMetrics
from codelab_llm_proxy.tracing import end_span

# (litellm model, prompt tokens, completion tokens) -> USD, from litellm's cost map.
CostFn = Callable[[str, int, int], float]
Sink = Callable[[dict[str, Any]], None]

log = logging.getLogger("codelab_llm_proxy.requests")
# ``cache`` values of calls answered from a cache: no provider was paid for them.
CACHE_ANSWERS = frozenset({"hit", "semantic-hit", "degraded"})


@dataclass
class CallRecord:
    """Accumulates what is known about one call until :meth:`finish`."""

    model: str
    kind: str
    caller: str
    session: str | None = None
    agent: str | None = None
    stream: bool = False
    deployment: str | None = None
    provider: str | None = None
    cost_model: str | None = None
    price: Price | None = None
    cache: str | None = None
    cached_tokens: int = 0
    cost_usd: float = 0.0
    coster: CostFn | None = None
    sink: Sink | None = None
    span: Span | None = None
    started: float = field(default_factory=time.perf_counter)
    first_chunk_at: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finished: bool = False

    def mark_first_chunk(self) -> None:
        if self.first_chunk_at is None:
            self.first_chunk_at = time.perf_counter()

    def bind(self, deployment: Deployment) -> None:
        """The deployment that served (for the ledger, cost and logs)."""
        self.deployment = deployment.id
        self.provider = deployment.provider
        self.cost_model = str(deployment.litellm_params["model"])
        self.price = deployment.price

    def add_usage(self, usage: Any) -> None:
        """Take token counts from an OpenAI ``usage`` object (dict form), if present."""
        if isinstance(usage, dict):
            self.prompt_tokens = int(usage.get("prompt_tokens") or 0)
            self.completion_tokens = int(usage.get("completion_tokens") or 0)
            details = usage.get("prompt_tokens_details")
            if isinstance(details, dict):
                self.cached_tokens = int(details.get("cached_tokens") or 0)

    def cost(self) -> float:
        """USD of the usage known so far: the deployment's price, else litellm's cost map."""
        if self.cache in CACHE_ANSWERS:
            return 0.0
        if self.price is not None:
            return (
                self.prompt_tokens * self.price.input_per_mtok
                + self.completion_tokens * self.price.output_per_mtok
            ) / 1_000_000
        if self.coster is not None and self.cost_model is not None:
            return self.coster(self.cost_model, self.prompt_tokens, self.completion_tokens)
        return 0.0

    def finish(self, metrics: LlmMetrics, outcome: str, error_code: str | None = None) -> None:
        """Record metrics and log once; later calls are ignored."""
        if self.finished:
            return
        self.finished = True
        elapsed = time.perf_counter() - self.started
        metrics.requests.labels(self.model, self.kind, outcome).inc()
        metrics.latency.labels(self.model, self.kind).observe(elapsed)
        if self.cache is not None:
            metrics.cache.labels(self.model, self.cache).inc()
        metrics.tokens.labels(self.model, "in").inc(self.prompt_tokens)
        metrics.tokens.labels(self.model, "out").inc(self.completion_tokens)
        ttft_ms = None
        if self.first_chunk_at is not None:
            ttft = self.first_chunk_at - self.started
            metrics.time_to_first_token.labels(self.model).observe(ttft)
            ttft_ms = round(ttft * 1000, 1)
        self.cost_usd = self.cost()
        if self.cost_usd:
            metrics.cost.labels(self.model).inc(self.cost_usd)
        if self.sink is not None:
            self.sink(self._row(outcome, error_code, elapsed * 1000, ttft_ms))
        if self.span is not None:
            end_span(self.span, self, outcome, error_code)
        log.info(
            "llm %s %s",
            self.kind,
            outcome,
            extra={
                "model": self.model,
                "kind": self.kind,
                "stream": self.stream,
                "deployment": self.deployment,
                "cache": self.cache,
                "outcome": outcome,
                "error_code": error_code,
                "latency_ms": round(elapsed * 1000, 1),
                "ttft_ms": ttft_ms,
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "caller": self.caller,
                "session_id": self.session,
                "agent": self.agent,
            },
        )

    def _row(
        self, outcome: str, error_code: str | None, latency_ms: float, ttft_ms: float | None
    ) -> dict[str, Any]:
        return {
            "caller": self.caller,
            "session": self.session,
            "agent": self.agent,
            "model": self.model,
            "deployment": self.deployment,
            "provider": self.provider,
            "kind": self.kind,
            "stream": self.stream,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cached_tokens": self.cached_tokens,
            "cost_usd": self.cost_usd,
            "latency_ms": latency_ms,
            "ttft_ms": ttft_ms,
            "cache": self.cache,
            "outcome": outcome,
            "error_code": error_code,
        }
