"""A fake OpenAI provider over real HTTP, for tests only (no real provider is reachable).

In-process::

    with FakeProvider() as provider:
        provider.set_script("weather", [Reply.tool("get_weather", {"city": "Oslo"})])
        ... call provider.base_url with a message containing "[[script:weather]]" ...
        provider.requests("weather")

As a process (the e2e suite)::

    python -m codelab_testing.fake_provider --host 127.0.0.1 --port 8099

and drive it over HTTP: ``POST /_scripts/{name}`` ``{"replies": [...]}``,
``GET /_requests?script=NAME``, ``DELETE /_scripts``.
"""

from __future__ import annotations

import argparse
import socket
import threading
import time
from types import TracebackType
from typing import Any, Literal

import uvicorn
from starlette.types import ASGIApp

from codelab_testing.fake_provider_app import create_fake_provider_app
from codelab_testing.fake_provider_models import DEFAULT_SCRIPT, Reply, ScriptBook, ToolCall

__all__ = ["DEFAULT_SCRIPT", "FakeProvider", "Reply", "ServerThread", "ToolCall", "main"]

DEFAULT_MODELS = ["fake", "fake-embedding"]


class ServerThread:
    """Any ASGI app on uvicorn in a daemon thread, on a free loopback port (tests only)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        host: str = "127.0.0.1",
        lifespan: Literal["auto", "on", "off"] = "auto",
    ) -> None:
        self.app = app
        self.host = host
        self.lifespan = lifespan
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        # Bind first so the port is known before uvicorn starts and no other test can take it.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app, log_level="warning", lifespan=self.lifespan, access_log=False
        )
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="test-server", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("server thread did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self) -> ServerThread:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class FakeProvider:
    """The fake provider app on a :class:`ServerThread`, with its script book at hand."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        models: list[str] | None = None,
        embedding_dims: int = 64,
    ) -> None:
        self.book = ScriptBook()
        self.app = create_fake_provider_app(
            self.book, models=models or DEFAULT_MODELS, embedding_dims=embedding_dims
        )
        self._server = ServerThread(self.app, host=host, lifespan="off")

    @property
    def root_url(self) -> str:
        return self._server.url

    @property
    def base_url(self) -> str:
        """The OpenAI ``base_url`` / litellm ``api_base``: ``http://host:port/v1``."""
        return f"{self.root_url}/v1"

    def start(self, timeout: float = 10.0) -> FakeProvider:
        self._server.start(timeout)
        return self

    def stop(self) -> None:
        self._server.stop()

    def set_script(self, name: str, replies: list[Reply]) -> None:
        """Replace the queue of script ``name``."""
        self.book.set_script(name, replies)

    def requests(self, name: str | None = None) -> list[dict[str, Any]]:
        """Request bodies received for script ``name`` (all scripts when ``None``)."""
        return self.book.requests(name)

    def reset(self) -> None:
        self.book.reset()

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    """Serve the fake provider in the foreground until interrupted."""
    parser = argparse.ArgumentParser(description="Fake OpenAI provider for tests")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--embedding-dims", type=int, default=64)
    parser.add_argument("--model", action="append", dest="models", help="model id to list")
    args = parser.parse_args(argv)
    app = create_fake_provider_app(
        ScriptBook(), models=args.models or DEFAULT_MODELS, embedding_dims=args.embedding_dims
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", lifespan="off")


if __name__ == "__main__":
    main()
