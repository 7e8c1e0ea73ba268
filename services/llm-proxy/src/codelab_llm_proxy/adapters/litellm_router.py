"""The only module that imports litellm: one call to one deployment, errors translated.

Routing (pools, retries, fallbacks, breakers) is ours (``routing/``); litellm is the
provider layer: request translation for non-OpenAI providers, token counting, cost map.
We call ``litellm.acompletion`` rather than ``Router.acompletion``: the router would
repeat our routing and costs several ms of CPU per call.
"""

from __future__ import annotations

import importlib
import json
import os
import sys

# litellm fetches its model cost map over the network at import unless told to use the
# copy it ships; this process has no business reaching the internet at import time. It is
# set here, once, before the import, instead of in settings: it configures a library, it
# is not a setting of ours.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

from codelab_common.errors import CodelabError
from codelab_common.logging import redact
from codelab_llm_proxy.config import Deployment
from codelab_llm_proxy.errors import (
    ProviderError,
    ProviderMisconfigured,
    ProviderRateLimited,
    ProviderRejected,
    ProviderServerError,
    ProviderTimeout,
    ProviderUnavailable,
)
from codelab_llm_proxy.streams import Frame, FrameStream, frame_from_chunk

# litellm's exception names, most specific first: Timeout is also an APIConnectionError.
_TRANSLATIONS: list[tuple[str, type[CodelabError]]] = [
    ("Timeout", ProviderTimeout),
    ("RateLimitError", ProviderRateLimited),
    ("BadRequestError", ProviderRejected),
    ("UnprocessableEntityError", ProviderRejected),
    ("AuthenticationError", ProviderMisconfigured),
    ("PermissionDeniedError", ProviderMisconfigured),
    ("NotFoundError", ProviderMisconfigured),
    ("ServiceUnavailableError", ProviderUnavailable),
    ("APIConnectionError", ProviderUnavailable),
]


def load_litellm() -> ModuleType:
    """litellm, imported on first need: ~200 MB and seconds of CPU a fast-path-only proxy
    never pays. The backend calls this at startup when a deployment needs it."""
    return importlib.import_module("litellm")


# Router-only keys of litellm_params that a bare completion call must not forward.
_ROUTER_KEYS = {"rpm", "tpm", "order", "weight", "max_parallel_requests"}


def translate_error(exc: Exception, model: str) -> CodelabError:
    """Map a litellm/provider exception to our error; the provider's text is kept, redacted."""
    if isinstance(exc, CodelabError):
        return exc
    detail = str(getattr(exc, "message", "") or exc).splitlines()[0] if str(exc) else ""
    exceptions = sys.modules.get("litellm.exceptions")
    for name, target in _TRANSLATIONS:
        source = getattr(exceptions, name, None)
        if isinstance(source, type) and isinstance(exc, source):
            return target(redact(f"model '{model}': {detail}"))
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and status >= 500:
        return ProviderServerError(redact(f"model '{model}': {detail}"))
    if status in (401, 403, 404):
        return ProviderMisconfigured(redact(f"model '{model}': {detail}"))
    return ProviderError(redact(f"model '{model}': {detail or type(exc).__name__}"))


def _call_params(deployment: Deployment, params: dict[str, Any]) -> dict[str, Any]:
    resolved = {k: v for k, v in deployment.resolved_params().items() if k not in _ROUTER_KEYS}
    # Retries are ours (routing/engine.py); the openai SDK under litellm would add its own.
    return {**params, **resolved, "max_retries": 0, "num_retries": 0}


class LitellmPath:
    """Completions and embeddings of one deployment through litellm."""

    def __init__(self, *, timeout: float) -> None:
        self.timeout = timeout
        self._litellm: ModuleType | None = None

    def warm(self) -> None:
        """Import litellm now (startup), not on the first call (which would stall the loop)."""
        _ = self.litellm

    @property
    def litellm(self) -> ModuleType:
        if self._litellm is None:
            self._litellm = load_litellm()
        return self._litellm

    async def complete(self, deployment: Deployment, params: dict[str, Any]) -> dict[str, Any]:
        call = {"timeout": self.timeout, **_call_params(deployment, params), "stream": False}
        try:
            response = await self.litellm.acompletion(**call)
        except Exception as exc:
            raise translate_error(exc, deployment.model_name) from exc
        body: dict[str, Any] = response.model_dump(exclude_none=True, warnings=False)
        return body

    async def open_stream(self, deployment: Deployment, params: dict[str, Any]) -> FrameStream:
        """Start a stream and wait for its first chunk, so early failures can fail over."""
        call = {"timeout": self.timeout, **_call_params(deployment, params), "stream": True}
        try:
            stream = await self.litellm.acompletion(**call)
            iterator = aiter(stream)
            first = await anext(iterator)
        except Exception as exc:
            raise translate_error(exc, deployment.model_name) from exc
        return ChunkStream(deployment, first, iterator, stream)

    async def embed(self, deployment: Deployment, params: dict[str, Any]) -> dict[str, Any]:
        try:
            response = await self.litellm.aembedding(**_call_params(deployment, params))
        except Exception as exc:
            raise translate_error(exc, deployment.model_name) from exc
        # base64 embeddings are strings where litellm's model expects floats: not an error.
        body: dict[str, Any] = response.model_dump(exclude_none=True, warnings=False)
        return body


class ChunkStream(FrameStream):
    """A litellm stream whose first chunk has arrived; chunks become frames."""

    def __init__(
        self, deployment: Deployment, first: Any, iterator: AsyncIterator[Any], source: Any
    ) -> None:
        self.deployment_id = deployment.id
        self.model = deployment.model_name
        self._first = first
        self._iterator = iterator
        self._source = source

    def _frame(self, chunk: Any) -> Frame:
        body: dict[str, Any] = chunk.model_dump(exclude_none=True, warnings=False)
        body["model"] = self.model
        return frame_from_chunk(body)

    async def frames(self) -> AsyncIterator[Frame]:
        """The frames; a provider failure mid-stream is raised as a :class:`CodelabError`."""
        yield self._frame(self._first)
        try:
            async for chunk in self._iterator:
                yield self._frame(chunk)
        except Exception as exc:
            raise translate_error(exc, self.model) from exc

    async def aclose(self) -> None:
        closer = getattr(self._source, "aclose", None)
        if closer is not None:
            await closer()


def count_prompt_tokens(model: str, messages: list[dict[str, Any]]) -> int:
    """Prompt tokens by litellm's tokenizer map (for usage when a stream dies before its end)."""
    litellm = sys.modules.get("litellm")
    if litellm is None:
        # Not loaded (fast path only): ~4 characters per token, rather than a blocking import.
        return len(json.dumps(messages)) // 4
    try:
        return int(litellm.token_counter(model=model, messages=messages))
    except Exception:
        return len(json.dumps(messages)) // 4
