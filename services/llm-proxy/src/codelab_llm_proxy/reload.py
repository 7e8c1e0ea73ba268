"""Config reload without restart: on SIGHUP, or when the file changes (polled).

A config that does not load or validate is refused with its error logged, and the proxy
keeps serving the one it has; a good one replaces routing, policy and limits at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from pathlib import Path

from codelab_llm_proxy.config import ProxyConfig, load_config
from codelab_llm_proxy.errors import ConfigError

log = logging.getLogger(__name__)


class ConfigReloader:
    """Loads ``path`` again and hands a valid config to ``apply``."""

    def __init__(self, path: Path, apply: Callable[[ProxyConfig], None]) -> None:
        self.path = path
        self._apply = apply
        self._mtime = self._stat()
        self._task: asyncio.Task[None] | None = None
        self.last_error: str | None = None

    def _stat(self) -> float:
        try:
            return self.path.stat().st_mtime
        except OSError:
            return 0.0

    def reload(self) -> bool:
        """True when the new config is serving; False (old one kept) when it is invalid."""
        self._mtime = self._stat()
        try:
            config = load_config(self.path)
            if not config.model_names:
                raise ConfigError(f"model config {self.path} has no model; keeping the old one")
        except ConfigError as exc:
            self.last_error = exc.detail
            log.error("config reload refused, old config kept: %s", exc.detail)
            return False
        self._apply(config)
        self.last_error = None
        log.info("config reloaded", extra={"models": config.model_names})
        return True

    def start(self, interval: float) -> None:
        loop = asyncio.get_running_loop()
        # Signal handlers can only be set from the main thread (not in tests' server threads).
        with contextlib.suppress(RuntimeError, ValueError, NotImplementedError):
            loop.add_signal_handler(signal.SIGHUP, self.reload)
        if interval > 0:
            self._task = asyncio.create_task(self._watch(interval), name="config-watch")

    async def _watch(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            if self._stat() != self._mtime:
                self.reload()

    async def aclose(self) -> None:
        with contextlib.suppress(RuntimeError, ValueError, NotImplementedError):
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
