"""What the llm-proxy says about the configured model: its context window.

The proxy knows each model's window (its deployments' ``model_info`` or litellm's model
map) and says so on ``GET /v1/models/{model}`` as ``context_window``; asking it spares the
runtime a model table of its own.
"""

from __future__ import annotations

import logging

import httpx

from codelab_runtime.adapters.tokens import ClientCredentialsTokens
from codelab_runtime.errors import TokenError

log = logging.getLogger(__name__)
# A quick question: ModelWindow asks again later when this one gets no answer.
_ASK_TIMEOUT_S = 3.0


async def context_window_of(
    http: httpx.AsyncClient, base_url: str, model: str, tokens: ClientCredentialsTokens | None
) -> int | None:
    """The model's context window in tokens, or None when the proxy cannot tell."""
    try:
        headers = {"Authorization": f"Bearer {await tokens.token()}"} if tokens else {}
        response = await http.get(
            f"{base_url.rstrip('/')}/models/{model}", headers=headers, timeout=_ASK_TIMEOUT_S
        )
        response.raise_for_status()
        window = response.json().get("context_window")
    except (httpx.HTTPError, TokenError, ValueError, AttributeError) as exc:
        log.info("the llm-proxy did not say the context window of %s: %s", model, exc)
        return None
    return window if isinstance(window, int) and window > 0 else None
