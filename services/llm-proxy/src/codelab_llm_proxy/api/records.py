"""The :class:`CallRecord` of a model call made for a request: who, which session and agent."""

from __future__ import annotations

from fastapi import Request

from codelab_llm_proxy.accounting import Accountant
from codelab_llm_proxy.adapters.cost_map import cost_usd
from codelab_llm_proxy.tracing import start_span
from codelab_llm_proxy.usage import CallRecord


def record_for(request: Request, caller: str, model: str, kind: str) -> CallRecord:
    """A record that lands in the ledger and the limit counters when finished."""
    accountant: Accountant = request.app.state.accountant
    return CallRecord(
        model=model,
        kind=kind,
        caller=caller,
        session=request.headers.get("x-codelab-session"),
        agent=request.headers.get("x-codelab-agent"),
        coster=cost_usd,
        sink=accountant.record,
        span=start_span(request.app.state.tracer, kind, model),
    )


async def new_record(request: Request, caller: str, model: str, kind: str) -> CallRecord:
    """The call's record, once the caller is within its rate limits and budget."""
    accountant: Accountant = request.app.state.accountant
    await accountant.admit_caller(caller)
    return record_for(request, caller, model, kind)
