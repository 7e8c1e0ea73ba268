"""``GET /v1/usage``: the caller's own usage (admins: anyone's), grouped, as JSON or CSV."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from codelab_common.errors import Forbidden, ServiceUnavailable
from codelab_llm_proxy.api.deps import Caller
from codelab_llm_proxy.ledger.store import GroupBy, UsageLedger
from codelab_llm_proxy.settings import LlmProxySettings

router = APIRouter(prefix="/v1", tags=["usage"])


def _csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return out.getvalue()


@router.get("/usage", summary="Usage ledger: own calls, or anyone's with the admin scope")
async def usage(
    request: Request,
    caller: Caller,
    group_by: Annotated[GroupBy, Query(description="model, day, session or none")] = "model",
    user: Annotated[str | None, Query(description="Admin only: whose usage ('*': all)")] = None,
    since: Annotated[str | None, Query(description="First UTC day, YYYY-MM-DD")] = None,
    format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
) -> Response:
    ledger: UsageLedger | None = request.app.state.ledger
    if ledger is None:
        raise ServiceUnavailable("the usage ledger is disabled")
    settings: LlmProxySettings = request.app.state.settings
    whose: str | None = caller.sub
    if user is not None and user != caller.sub:
        if settings.admin_scope not in caller.scopes:
            raise Forbidden(f"reading another caller's usage needs scope {settings.admin_scope}")
        whose = None if user == "*" else user
    await ledger.flush()
    rows = await ledger.query(caller=whose, group_by=group_by, since=since, limit=limit)
    if format == "csv":
        return Response(_csv(rows), media_type="text/csv; charset=utf-8")
    return JSONResponse({"object": "list", "group_by": group_by, "data": rows})
