"""Pooled outbound HTTP clients, made once per process in a service's lifespan."""

from __future__ import annotations

import httpx

from codelab_common.logging import correlation_id_var


async def _propagate_correlation_id(request: httpx.Request) -> None:
    if (cid := correlation_id_var.get()) is not None:
        request.headers.setdefault("x-correlation-id", cid)


def create_http_client(
    base_url: str = "",
    *,
    timeout: float = 30.0,
    max_connections: int = 100,
    max_keepalive: int = 20,
) -> httpx.AsyncClient:
    """One pooled client per dependency per process; close it in the lifespan exit."""
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=httpx.Timeout(timeout, connect=5.0),
        limits=httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_keepalive
        ),
        event_hooks={"request": [_propagate_correlation_id]},
    )
