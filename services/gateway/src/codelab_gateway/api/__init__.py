"""HTTP and WebSocket routers of the gateway."""
