"""Direct forwarding to OpenAI-speaking deployments over one pooled httpx client.

litellm translates requests and rebuilds every chunk as a pydantic object; a provider that
already speaks the OpenAI API needs neither, so its SSE bytes are passed through as they
arrive and only framing and the usage chunk are looked at.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from codelab_common.errors import CodelabError
from codelab_common.logging import redact
from codelab_llm_proxy.config import Deployment
from codelab_llm_proxy.errors import (
    ProviderError,
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
        message = str(json.loads(text)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        message = text[:200]
    detail = redact(f"model '{model}': provider answered {status}: {message}")
    if status == 429:
        return ProviderRateLimited(detail)
    if status in (400, 413, 422):
        return ProviderRejected(detail)
    if status == 503:
        return ProviderUnavailable(detail)
    if status >= 500:
        return ProviderServerError(detail)
    return ProviderError(detail)


def transport_error(exc: httpx.HTTPError, model: str) -> CodelabError:
    if isinstance(exc, httpx.TimeoutException):
        return ProviderTimeout(f"model '{model}': provider timed out")
    return ProviderUnavailable(f"model '{model}': {type(exc).__name__}")


class FastPath:
    """One connection pool shared by every fast-path deployment."""

    def __init__(self, *, timeout: float, max_connections: int) -> None:
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    def _request(
        self, deployment: Deployment, params: dict[str, Any], path: str = "/chat/completions"
    ) -> httpx.Request:
        resolved = deployment.resolved_params()
        headers = {"content-type": "application/json"}
        if resolved.get("api_key"):
            headers["authorization"] = f"Bearer {resolved['api_key']}"
        body = {**params, "model": deployment.upstream_model}
        url = str(resolved["api_base"]).rstrip("/") + path
        return self._http.build_request("POST", url, json=body, headers=headers)

    async def complete(self, deployment: Deployment, params: dict[str, Any]) -> dict[str, Any]:
        return await self._json(self._request(deployment, {**params, "stream": False}), deployment)

    async def embed(self, deployment: Deployment, params: dict[str, Any]) -> dict[str, Any]:
        return await self._json(self._request(deployment, params, "/embeddings"), deployment)

    async def _json(self, request: httpx.Request, deployment: Deployment) -> dict[str, Any]:
        try:
            response = await self._http.send(request)
        except httpx.HTTPError as exc:
            raise transport_error(exc, deployment.model_name) from exc
        if response.status_code >= 400:
            raise status_error(response.status_code, response.text, deployment.model_name)
        try:
            body: dict[str, Any] = response.json()
        except ValueError as exc:
            raise ProviderError(f"model '{deployment.model_name}': answer is not JSON") from exc
        return body

    async def open_stream(self, deployment: Deployment, params: dict[str, Any]) -> FrameStream:
        request = self._request(deployment, {**params, "stream": True})
        try:
            response = await self._http.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise transport_error(exc, deployment.model_name) from exc
        if response.status_code >= 400:
            text = (await response.aread()).decode(errors="replace")
            await response.aclose()
            raise status_error(response.status_code, text, deployment.model_name)
        stream = _PassThrough(response, deployment)
        await stream.prime()
        return stream


class _PassThrough(FrameStream):
    """Provider SSE bytes split into frames, the first one read before the response starts."""

    def __init__(self, response: httpx.Response, deployment: Deployment) -> None:
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
            async for chunk in self._response.aiter_bytes():
                buffer += chunk
                buffer = buffer.replace(b"\r\n", b"\n")
                while b"\n\n" in buffer:
                    event, buffer = buffer.split(b"\n\n", 1)
                    if rename is None:
                        rename = next((r for r in self._renames if r[0] in event), self._renames[0])
                    frame = frame_from_event(event, rename)
                    if frame is not None:
                        yield frame
        except httpx.HTTPError as exc:
            raise transport_error(exc, self._model) from exc

    async def frames(self) -> AsyncIterator[Frame]:
        if self._first is not None:
            first, self._first = self._first, None
            yield first
        async for frame in self._iterator:
            yield frame

    async def aclose(self) -> None:
        await self._response.aclose()
