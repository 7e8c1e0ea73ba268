"""What happens to a finished call's record: the ledger row and the limit/budget counters."""

from __future__ import annotations

import asyncio
from typing import Any

from codelab_common.errors import CodelabError
from codelab_llm_proxy.config import Deployment
from codelab_llm_proxy.ledger.store import UsageLedger
from codelab_llm_proxy.limits import Limiter
from codelab_llm_proxy.usage import CACHE_ANSWERS


class Accountant:
    """The sink of every :class:`~codelab_llm_proxy.usage.CallRecord`, and the limit gates."""

    def __init__(self, ledger: UsageLedger | None, limiter: Limiter | None) -> None:
        self.ledger = ledger
        self.limiter = limiter
        self._pending: set[asyncio.Task[None]] = set()

    def record(self, row: dict[str, Any]) -> None:
        if self.ledger is not None:
            self.ledger.add(row)
        if self.limiter is not None and row["cache"] not in CACHE_ANSWERS:
            tokens = row["prompt_tokens"] + row["completion_tokens"]
            task = asyncio.create_task(
                self.limiter.account(row["caller"], row["deployment"], tokens, row["cost_usd"])
            )
            # Keep a reference until done: the loop holds tasks only weakly.
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def admit_caller(self, caller: str) -> None:
        if self.limiter is not None:
            await self.limiter.admit_caller(caller)

    async def admit_deployment(self, deployment: Deployment) -> bool:
        if self.limiter is None:
            return True
        try:
            await self.limiter.admit(
                f"deployment:{deployment.id}", deployment.limit("rpm"), deployment.limit("tpm")
            )
        except CodelabError:
            return False
        return True

    async def aclose(self) -> None:
        await asyncio.gather(*self._pending, return_exceptions=True)
