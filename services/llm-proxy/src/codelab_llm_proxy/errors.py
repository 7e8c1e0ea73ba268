"""The proxy's typed errors and their OpenAI error shape.

``/v1`` callers are OpenAI clients, so errors there are rendered as
``{"error": {"message", "type", "param", "code"}}``; everything else keeps problem+json.
"""

from __future__ import annotations

from typing import Any

from codelab_common.errors import (
    BadRequest,
    CodelabError,
    NotFound,
    ServiceUnavailable,
    TooManyRequests,
    UpstreamError,
)

# OpenAI's `error.type` per HTTP status, as its SDK and docs use them.
_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


class ConfigError(CodelabError):
    """The model-list file is missing or malformed; the proxy refuses to start."""

    code = "config_error"
    title = "Invalid llm-proxy configuration"


class ModelNotFound(NotFound):
    """The requested model name is not in the model list."""

    code = "model_not_found"
    title = "Model not found"


class ProviderRejected(BadRequest):
    """The provider refused the request as invalid (bad params, context too long, policy)."""

    code = "provider_rejected_request"
    title = "The provider rejected the request"


class ProviderRateLimited(TooManyRequests):
    """The provider is rate-limiting us."""

    code = "provider_rate_limited"
    title = "The provider is rate-limiting requests"


class ProviderError(UpstreamError):
    """The provider failed or answered with something we cannot use."""

    code = "provider_error"
    title = "The model provider failed"


class ProviderMisconfigured(ProviderError):
    """The provider refused *us* (401/403/404: key, permission, model name or URL): the
    deployment is misconfigured, the caller cannot fix it, another deployment may serve."""

    code = "provider_misconfigured"


class ProviderServerError(ProviderError):
    """The provider answered 5xx: worth another attempt or another deployment."""

    code = "provider_server_error"


class ProviderUnavailable(ServiceUnavailable):
    """The provider cannot be reached."""

    code = "provider_unavailable"
    title = "The model provider is unavailable"


class ProviderTimeout(UpstreamError):
    """The provider did not answer within the request timeout."""

    status = 504
    code = "provider_timeout"
    title = "The model provider timed out"


class RateLimited(TooManyRequests):
    """A caller or deployment limit of ours (RPM/TPM) is exhausted."""

    code = "rate_limit_exceeded"
    title = "Rate limit exceeded"


class BudgetExceeded(TooManyRequests):
    """The caller's spend budget for the period is used up (hard stop)."""

    code = "budget_exceeded"
    title = "Budget exceeded"


_CONTEXT_WORDS = ("context length", "context_length", "context window", "too many tokens")


def is_context_overflow(error: CodelabError) -> bool:
    """The provider refused the prompt as longer than the model's context window."""
    text = (error.detail or "").lower()
    return isinstance(error, ProviderRejected) and any(w in text for w in _CONTEXT_WORDS)


def is_retryable(error: CodelabError) -> bool:
    """Timeouts, 429, 5xx and connection failures; never a request the provider refused."""
    return isinstance(
        error, ProviderTimeout | ProviderRateLimited | ProviderUnavailable | ProviderServerError
    )


def is_deployment_fault(error: CodelabError) -> bool:
    """Not worth retrying on the same deployment, but another deployment may well serve."""
    return isinstance(error, ProviderMisconfigured)


def openai_error_body(error: CodelabError) -> dict[str, Any]:
    """The OpenAI-shaped body for ``error``."""
    kind = _OPENAI_TYPES.get(
        error.status, "api_error" if error.status >= 500 else "invalid_request_error"
    )
    param = error.extra.get("param")
    return {
        "error": {
            "message": error.detail,
            "type": kind,
            "param": param if isinstance(param, str) else None,
            "code": error.code,
        }
    }


class RouteNotFound(NotFound):
    """No such endpoint."""

    code = "unknown_url"
    title = "Unknown URL"


class MethodNotAllowed(CodelabError):
    """The endpoint exists but not for this method."""

    status = 405
    code = "method_not_allowed"
    title = "Method not allowed"
