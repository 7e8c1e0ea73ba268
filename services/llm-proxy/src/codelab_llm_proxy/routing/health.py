"""Per-replica health of deployments: requests in flight and a latency average."""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Literal

from codelab_llm_proxy.config import Deployment

# Weight of the newest sample in the latency average.
_ALPHA = 0.2


class Health:
    """Orders a pool: least busy first, or randomly weighted towards the fastest."""

    def __init__(self) -> None:
        self.in_flight: dict[str, int] = defaultdict(int)
        self.latency: dict[str, float] = {}

    def started(self, deployment: str) -> None:
        self.in_flight[deployment] += 1

    def ended(self, deployment: str, latency: float | None) -> None:
        self.in_flight[deployment] -= 1
        if latency is not None:
            previous = self.latency.get(deployment, latency)
            self.latency[deployment] = (1 - _ALPHA) * previous + _ALPHA * latency

    def order(
        self, pool: list[Deployment], balancing: Literal["least-busy", "latency"]
    ) -> list[Deployment]:
        if len(pool) < 2:
            return pool
        if balancing == "least-busy":
            # The random key spreads ties instead of always hitting the first deployment.
            return sorted(pool, key=lambda d: (self.in_flight[d.id], random.random()))

        # Weighted shuffle (Efraimidis-Spirakis): weight 1/latency, unknown ones treated fast.
        def key(d: Deployment) -> float:
            weight = 1.0 / max(self.latency.get(d.id, 0.001), 0.001)
            return float(random.random() ** (1.0 / weight))

        return sorted(pool, key=key, reverse=True)
