"""An in-process, typed publish/subscribe bus for :mod:`codelab_common.events`.

Handlers run in subscription order and are awaited by :meth:`EventBus.publish`, so a
subscriber that persists state has finished before the publisher goes on (the next
replica to load a session sees everything published before the lease moved). A
handler that raises is logged and skipped: observers must never break the agent loop.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from codelab_common.events import BaseEvent

E = TypeVar("E", bound=BaseEvent)
Handler = Callable[[E], Awaitable[None] | None]

log = logging.getLogger(__name__)


class EventBus:
    """Typed subscriptions by event class (including base classes) plus catch-all handlers."""

    def __init__(self) -> None:
        self._by_type: list[tuple[type[BaseEvent], Callable[[Any], Awaitable[None] | None]]] = []

    def subscribe(self, event_type: type[E], handler: Handler[E]) -> Callable[[], None]:
        """Call ``handler`` for every published instance of ``event_type``; returns unsubscribe."""
        entry: tuple[type[BaseEvent], Callable[[Any], Awaitable[None] | None]] = (
            event_type,
            handler,
        )
        self._by_type.append(entry)

        def unsubscribe() -> None:
            if entry in self._by_type:
                self._by_type.remove(entry)

        return unsubscribe

    def subscribe_all(self, handler: Handler[BaseEvent]) -> Callable[[], None]:
        """Call ``handler`` for every event."""
        return self.subscribe(BaseEvent, handler)

    async def publish(self, event: BaseEvent) -> None:
        """Deliver ``event`` to each matching handler in turn; failures are logged, not raised."""
        for event_type, handler in list(self._by_type):
            if not isinstance(event, event_type):
                continue
            try:
                result = handler(event)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception(
                    "event subscriber failed",
                    extra={
                        "event_type": getattr(event, "type", type(event).__name__),
                        "subscriber": getattr(handler, "__qualname__", repr(handler)),
                    },
                )
