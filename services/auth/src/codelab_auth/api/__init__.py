"""HTTP routers of the auth service."""
