"""The only module that imports litellm: a Router over the model list, errors translated.

We use ``litellm.Router`` rather than bare ``acompletion``: deployments sharing a
``model_name`` become a pool (load-balanced today; retries, cooldowns and fallbacks are
router settings the failover issue will turn on), and ``os.environ/NAME`` references in
``litellm_params`` are resolved by the router exactly as the LiteLLM proxy does.
"""

from __future__ import annotations

import os

# litellm fetches its model cost map over the network at import unless told to use the
# copy it ships; this process has no business reaching the internet at import time. It is
# set here, once, before the import, instead of in settings: it configures a library, it
# is not a setting of ours.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from collections.abc import AsyncIterator
from typing import Any

from litellm.exceptions import (
    APIConnectionError,
    BadRequestError,
    RateLimitError,
    ServiceUnavailableError,
    Timeout,
)
from litellm.router import Router

from codelab_common.errors import CodelabError
from codelab_common.logging import redact
from codelab_llm_proxy.config import ProxyConfig
from codelab_llm_proxy.errors import (
    ProviderError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
)

# Most specific first: Timeout is also an APIConnectionError.
_TRANSLATIONS: list[tuple[type[Exception], type[CodelabError]]] = [
    (Timeout, ProviderTimeout),
    (RateLimitError, ProviderRateLimited),
    (BadRequestError, ProviderRejected),
    (ServiceUnavailableError, ProviderUnavailable),
    (APIConnectionError, ProviderUnavailable),
]


def translate_error(exc: Exception, model: str) -> CodelabError:
    """Map a litellm/provider exception to our error; the provider's text is kept, redacted."""
    if isinstance(exc, CodelabError):
        return exc
    detail = str(getattr(exc, "message", "") or exc).splitlines()[0] if str(exc) else ""
    for source, target in _TRANSLATIONS:
        if isinstance(exc, source):
            return target(redact(f"model '{model}': {detail}"))
    # Provider 401/403/404 mean our deployment is misconfigured: the caller cannot fix it.
    return ProviderError(redact(f"model '{model}': {detail or type(exc).__name__}"))


class LlmBackend:
    """Completions and embeddings through one ``litellm.Router`` built from the config."""

    def __init__(self, config: ProxyConfig, *, timeout: float, num_retries: int) -> None:
        self.config = config
        self._router = Router(
            model_list=config.router_model_list(),
            num_retries=num_retries,
            timeout=timeout,
            stream_timeout=timeout,
        )

    def close(self) -> None:
        """Drop the router's process-wide registrations (callbacks, strategies)."""
        self._router.retire()

    async def complete(self, model: str, params: dict[str, Any]) -> dict[str, Any]:
        try:
            response = await self._router.acompletion(model=model, stream=False, **params)
        except Exception as exc:
            raise translate_error(exc, model) from exc
        body: dict[str, Any] = response.model_dump(exclude_none=True, warnings=False)
        return body

    async def open_stream(self, model: str, params: dict[str, Any]) -> ChunkStream:
        """Start a stream and wait for its first chunk, so early failures get a real status."""
        try:
            stream = await self._router.acompletion(model=model, stream=True, **params)
            iterator = aiter(stream)
            first = await anext(iterator)
        except Exception as exc:
            raise translate_error(exc, model) from exc
        return ChunkStream(model, first, iterator, stream)

    async def embed(self, model: str, params: dict[str, Any]) -> dict[str, Any]:
        try:
            response = await self._router.aembedding(model=model, **params)
        except Exception as exc:
            raise translate_error(exc, model) from exc
        # base64 embeddings are strings where litellm's model expects floats: not an error.
        body: dict[str, Any] = response.model_dump(exclude_none=True, warnings=False)
        return body


class ChunkStream:
    """A provider stream whose first chunk has arrived; yields chunks as plain dicts."""

    def __init__(self, model: str, first: Any, iterator: AsyncIterator[Any], source: Any) -> None:
        self.model = model
        self._first = first
        self._iterator = iterator
        self._source = source

    async def chunks(self) -> AsyncIterator[dict[str, Any]]:
        """The chunks; a provider failure mid-stream is raised as a :class:`CodelabError`."""
        yield self._first.model_dump(exclude_none=True, warnings=False)
        try:
            async for chunk in self._iterator:
                yield chunk.model_dump(exclude_none=True, warnings=False)
        except Exception as exc:
            raise translate_error(exc, self.model) from exc

    async def aclose(self) -> None:
        closer = getattr(self._source, "aclose", None)
        if closer is not None:
            await closer()
