"""The model's context window: configured, or learnt from the llm-proxy in the background.

Asked once at start-up the proxy may not be up yet (replicas start in any order, and a
loaded machine answers slowly), so until it answers a default stands in and the question is
asked again with growing pauses. Turns read the value when they start.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)
# Assumed when neither the settings nor the llm-proxy say how large the window is.
DEFAULT_CONTEXT_WINDOW = 32_000


@dataclass(slots=True)
class ModelWindow:
    """How many tokens the model takes, and whether that is known or a stand-in."""

    tokens: int = DEFAULT_CONTEXT_WINDOW
    known: bool = True

    async def learn(
        self,
        ask: Callable[[], Awaitable[int | None]],
        *,
        first_pause: float = 1.0,
        longest_pause: float = 60.0,
    ) -> None:
        """Ask until answered; the default serves meanwhile."""
        pause = first_pause
        while not self.known:
            told = await ask()
            if told is not None:
                self.tokens, self.known = told, True
                log.info("context window: %d tokens (from the llm-proxy)", told)
                return
            await asyncio.sleep(pause)
            pause = min(pause * 2, longest_pause)
