"""Prometheus metrics of model calls, registered in the app's own registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300)
_TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30)


class LlmMetrics:
    """Requests by model and outcome, tokens in/out, latency and time to first token."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "codelab_llm_requests",
            "Model requests handled, by public model name and outcome",
            ["model", "kind", "outcome"],
            registry=registry,
        )
        self.tokens = Counter(
            "codelab_llm_tokens",
            "Tokens reported by providers; direction is 'in' (prompt) or 'out' (completion)",
            ["model", "direction"],
            registry=registry,
        )
        self.cache = Counter(
            "codelab_llm_cache_lookups",
            "Exact-cache lookups of cacheable requests, by result (hit or miss)",
            ["model", "result"],
            registry=registry,
        )
        self.semantic_cache = Counter(
            "codelab_llm_semantic_cache_lookups",
            "Semantic-cache lookups of cacheable requests, by result (hit or miss)",
            ["model", "result"],
            registry=registry,
        )
        self.fallbacks = Counter(
            "codelab_llm_fallbacks",
            "Requests served by a fallback model instead of the requested one",
            ["model", "served_by"],
            registry=registry,
        )
        self.cost = Counter(
            "codelab_llm_cost_usd",
            "Cost of model calls in USD (litellm's cost map or the deployment's price)",
            ["model"],
            registry=registry,
        )
        self.breaker_open = Gauge(
            "codelab_llm_breaker_open",
            "1 while this replica knows a deployment's circuit as open or half-open, else 0",
            ["deployment"],
            registry=registry,
        )
        self.budget_remaining = Gauge(
            "codelab_llm_budget_remaining_usd",
            "USD left in the current period of a budget; scope is caller:<sub> or team:<name>",
            ["scope"],
            registry=registry,
        )
        self.budget_alerts = Counter(
            "codelab_llm_budget_alerts",
            "Times a budget's spend crossed its soft alert threshold (limits alert_at)",
            ["scope"],
            registry=registry,
        )
        self.latency = Histogram(
            "codelab_llm_request_duration_seconds",
            "Time from request to the last byte of the answer",
            ["model", "kind"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.time_to_first_token = Histogram(
            "codelab_llm_time_to_first_token_seconds",
            "Streaming: time from request to the first chunk from the provider",
            ["model"],
            buckets=_TTFT_BUCKETS,
            registry=registry,
        )
