"""The gateway's own Prometheus metrics, registered in the app's registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

TO_AGENT = "client_to_agent"
TO_CLIENT = "agent_to_client"


class GatewayMetrics:
    """Open connections and streams, relayed messages by direction, auth failures by reason."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.ws_connections = Gauge(
            "codelab_gateway_websocket_connections",
            "Open ACP WebSocket connections",
            registry=registry,
        )
        self.sse_streams = Gauge(
            "codelab_gateway_sse_streams", "Open SSE event streams", registry=registry
        )
        self.messages = Counter(
            "codelab_gateway_messages_relayed",
            "JSON-RPC messages relayed between clients and the runtime",
            ["transport", "direction"],
            registry=registry,
        )
        self.auth_failures = Counter(
            "codelab_gateway_auth_failures",
            "Rejected credentials",
            ["transport", "reason"],
            registry=registry,
        )
