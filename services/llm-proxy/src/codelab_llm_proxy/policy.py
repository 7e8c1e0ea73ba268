"""Our own ``router:`` section of the model config: fallbacks, retries, deadlines, breaker.

Example::

    router:
      fallbacks: {coder: [coder-cheap]}   # tried in order once coder's pool has failed
      degraded: {coder: coder-cheap}      # served (and flagged) when every coder breaker is open
      context_fallbacks: {coder: coder-long}   # when the provider says the prompt is too long
      retries: 1                          # extra attempts per deployment, retryable errors only
      backoff_base: 0.05                  # seconds; full-jitter exponential back-off
      attempt_timeout: 30                 # per attempt (time to the first chunk when streaming)
      total_timeout: 120                  # whole request, every attempt and back-off included
      stream_idle_timeout: 60             # max silence between chunks once a stream has started
      balancing: least-busy               # or latency
      breaker: {failures: 5, window: 30, cooldown: 15}
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class BreakerPolicy(BaseModel):
    """When a deployment's circuit opens and how long it stays open before a probe."""

    model_config = ConfigDict(extra="forbid")

    failures: int = Field(default=5, ge=1, description="Failures within `window` that open it.")
    window: float = Field(default=30.0, gt=0, description="Seconds failures are counted over.")
    cooldown: float = Field(default=15.0, gt=0, description="Seconds open before a probe.")


class RouterPolicy(BaseModel):
    """Failover policy; every field has a default so a plain litellm file works unchanged."""

    model_config = ConfigDict(extra="forbid")

    fallbacks: dict[str, list[str]] = Field(default_factory=dict)
    degraded: dict[str, str] = Field(default_factory=dict)
    # A request too long for a model goes to this larger-context model instead of failing.
    context_fallbacks: dict[str, str] = Field(default_factory=dict)
    # None: take the service setting (num_retries, request_timeout) so old configs keep working.
    retries: int | None = Field(default=None, ge=0)
    backoff_base: float = Field(default=0.05, ge=0)
    backoff_max: float = Field(default=2.0, ge=0)
    attempt_timeout: float | None = Field(default=None, gt=0)
    total_timeout: float | None = Field(default=None, gt=0)
    stream_idle_timeout: float | None = Field(default=None, gt=0)
    balancing: Literal["least-busy", "latency"] = "least-busy"
    breaker: BreakerPolicy = Field(default_factory=BreakerPolicy)

    def chain(self, model: str) -> list[str]:
        """``model`` then its fallbacks, each once (a fallback's own fallbacks are not chased)."""
        return list(dict.fromkeys([model, *self.fallbacks.get(model, [])]))
