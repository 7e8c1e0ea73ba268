"""Direct forwarding to OpenAI-speaking deployments over one pooled aiohttp client.

litellm translates requests and rebuilds every chunk as a pydantic object; a provider that
already speaks the OpenAI API needs neither, so its SSE bytes are passed through as they
arrive and only framing and the usage chunk are looked at.

aiohttp rather than httpx here: its C response parser and lighter connection pool cost a
fraction of httpx's per-request CPU (httpx/httpcore was ~40 % of a fast-path request in a
py-spy profile), and this client carries every fast-path call.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

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
from codelab_llm_proxy.streams import Frame, FrameStream, frame_from_event


def status_error(status: int, text: str, model: str) -> CodelabError:
    """Our error for a provider's HTTP error status."""
    try:
        message = str(orjson.loads(text)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        message = text[:200]
    detail = redact(f"model '{model}': provider answered {status}: {message}")
    if status == 429:
        return ProviderRateLimited(detail)
    if status in (400, 413, 422):
        return ProviderRejected(detail)
    if status == 503:
        return ProviderUnavailable(detail)
    if status in (401, 403, 404):
        return ProviderMisconfigured(detail)
    if status >= 500:
        return ProviderServerError(detail)
    return ProviderError(detail)


def transport_error(exc: BaseException, model: str) -> CodelabError:
    if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
        return ProviderTimeout(f"model '{model}': provider timed out")
    return ProviderUnavailable(f"model '{model}': {type(exc).__name__}")


_TRANSPORT_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError)


class FastPath:
    """One connection pool shared by every fast-path deployment."""

    def __init__(self, *, timeout: float, max_connections: int) -> None:
        self._timeout = aiohttp.ClientTimeout(total=None, connect=min(timeout, 10.0))
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        # URL and headers per (deployment, path), built once; an entry is reused only for the
        # very Deployment object it was built from (a config reload makes new ones).
        self._targets: dict[tuple[str, str], tuple[Deployment, str, dict[str, str]]] = {}

    def _http(self) -> aiohttp.ClientSession:
        # Made on first use: a ClientSession belongs to the running loop.
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, keepalive_timeout=30, ttl_dns_cache=60
            )
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout, skip_auto_headers=("User-Agent",)
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()

    def _target(self, deployment: Deployment, path: str) -> tuple[str, dict[str, str]]:
        found = self._targets.get((deployment.id, path))
        if found is None or found[0] is not deployment:
            resolved = deployment.resolved_params()
            headers = {"content-type": "application/json"}
            if resolved.get("api_key"):
                headers["authorization"] = f"Bearer {resolved['api_key']}"
            found = (deployment, str(resolved["api_base"]).rstrip("/") + path, headers)
            self._targets[(deployment.id, path)] = found
        return found[1], found[2]

    async def _post(
        self, deployment: Deployment, params: dict[str, Any], path: str
    ) -> aiohttp.ClientResponse:
        url, headers = self._target(deployment, path)
        body = orjson.dumps({**params, "model": deployment.upstream_model})
        try:
            response = await self._http().post(url, data=body, headers=headers)
        except _TRANSPORT_ERRORS as exc:
            raise transport_error(exc, deployment.model_name) from exc
        if response.status >= 400:
            try:
                text = (await response.read()).decode(errors="replace")
            except _TRANSPORT_ERRORS:
                text = ""
            finally:
                response.release()
            raise status_error(response.status, text, deployment.model_name)
        return response

    async def complete(self, deployment: Deployment, params: dict[str, Any]) -> dict[str, Any]:
        return await self._json(deployment, {**params, "stream": False}, "/chat/completions")

    async def embed(self, deployment: Deployment, params: dict[str, Any]) -> dict[str, Any]:
        return await self._json(deployment, params, "/embeddings")

    async def _json(
        self, deployment: Deployment, params: dict[str, Any], path: str
    ) -> dict[str, Any]:
        response = await self._post(deployment, params, path)
        try:
            raw = await response.read()
        except _TRANSPORT_ERRORS as exc:
            raise transport_error(exc, deployment.model_name) from exc
        finally:
            response.release()
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ProviderError(f"model '{deployment.model_name}': answer is not JSON") from exc
        if not isinstance(body, dict):
            raise ProviderError(f"model '{deployment.model_name}': answer is not a JSON object")
        return body

    async def open_stream(self, deployment: Deployment, params: dict[str, Any]) -> FrameStream:
        response = await self._post(deployment, {**params, "stream": True}, "/chat/completions")
        stream = _PassThrough(response, deployment)
        await stream.prime()
        return stream


class _PassThrough(FrameStream):
    """Provider SSE bytes split into frames, the first one read before the response starts."""

    def __init__(self, response: aiohttp.ClientResponse, deployment: Deployment) -> None:
        self.deployment_id = deployment.id
        self._response = response
        self._model = deployment.model_name
        upstream = deployment.upstream_model
        # Both spacings: json.dumps' default and the compact form most servers use.
        self._renames = [
            (f'"model":"{upstream}"'.encode(), f'"model":"{self._model}"'.encode()),
            (f'"model": "{upstream}"'.encode(), f'"model": "{self._model}"'.encode()),
        ]
        self._iterator = self._read()
        self._first: Frame | None = None

    async def prime(self) -> None:
        try:
            self._first = await anext(self._iterator)
        except StopAsyncIteration as exc:
            await self.aclose()
            raise ProviderError(f"model '{self._model}': empty stream") from exc
        except BaseException:
            await self.aclose()
            raise

    async def _read(self) -> AsyncIterator[Frame]:
        buffer = b""
        rename = None
        try:
            async for chunk in self._response.content.iter_any():
                buffer += chunk
                if b"\r" in buffer:
                    buffer = buffer.replace(b"\r\n", b"\n")
                while b"\n\n" in buffer:
                    event, buffer = buffer.split(b"\n\n", 1)
                    if rename is None:
                        rename = next((r for r in self._renames if r[0] in event), self._renames[0])
                    frame = frame_from_event(event, rename)
                    if frame is not None:
                        yield frame
        except _TRANSPORT_ERRORS as exc:
            raise transport_error(exc, self._model) from exc

    async def frames(self) -> AsyncIterator[Frame]:
        if self._first is not None:
            first, self._first = self._first, None
            yield first
        async for frame in self._iterator:
            yield frame

    async def aclose(self) -> None:
        # close(), not release(): a stream abandoned half-way must not go back to the pool.
        self._response.close()
