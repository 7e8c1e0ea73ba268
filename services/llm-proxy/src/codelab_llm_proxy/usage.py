"""One model call's account: who asked, for what, how long it took, what it cost in tokens.

Feeds the metrics and the per-request log line; the usage ledger (a later issue) will
persist the same record. Never holds prompt text or credentials.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from codelab_llm_proxy.metrics import LlmMetrics

log = logging.getLogger("codelab_llm_proxy.requests")


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
    cache: str | None = None
    started: float = field(default_factory=time.perf_counter)
    first_chunk_at: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finished: bool = False

    def mark_first_chunk(self) -> None:
        if self.first_chunk_at is None:
            self.first_chunk_at = time.perf_counter()

    def add_usage(self, usage: Any) -> None:
        """Take token counts from an OpenAI ``usage`` object (dict form), if present."""
        if isinstance(usage, dict):
            self.prompt_tokens = int(usage.get("prompt_tokens") or 0)
            self.completion_tokens = int(usage.get("completion_tokens") or 0)

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
