"""Asking the user to approve a tool call (``session/request_permission``).

Options: allow once, allow always (for the rest of the session, persisted with it),
reject. A client may also approve with changed arguments: it answers with an allow
option and ``_meta.codelab.editedArguments`` (an object replacing the arguments), which
the runner validates and checks against the policy again before running.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from acp.agent.connection import AgentSideConnection
from acp.schema import AllowedOutcome, PermissionOption, ToolCallUpdate

from codelab_common import events as ev
from codelab_common.eventbus import EventBus
from codelab_common.protocol import META_NAMESPACE
from codelab_runtime.state import SessionState
from codelab_runtime.tools.definitions import ToolDef
from codelab_runtime.tools.policy import always_key

EDITED_ARGUMENTS = "editedArguments"

_OPTIONS = [
    PermissionOption(option_id="allow_once", name="Allow", kind="allow_once"),
    PermissionOption(option_id="allow_always", name="Always allow", kind="allow_always"),
    PermissionOption(option_id="reject_once", name="Reject", kind="reject_once"),
]


@dataclass(frozen=True, slots=True)
class ApprovalAnswer:
    """The user's decision, and the arguments they substituted, if any."""

    approved: bool
    edited: dict[str, Any] | None = None


def _edited(*metas: dict[str, Any] | None) -> dict[str, Any] | None:
    for meta in metas:
        ours = (meta or {}).get(META_NAMESPACE)
        value = ours.get(EDITED_ARGUMENTS) if isinstance(ours, dict) else None
        if isinstance(value, dict):
            return value
    return None


class Approver:
    """Asks, unless the session already allowed this kind of call for good."""

    def __init__(
        self,
        client: AgentSideConnection,
        bus: EventBus,
        state: SessionState,
        ids: Callable[[], dict[str, Any]],
    ) -> None:
        self._client = client
        self._bus = bus
        self._state = state
        self._ids = ids

    async def ask(
        self, call_id: str, tool: ToolDef, args: dict[str, Any], title: str
    ) -> ApprovalAnswer:
        key = always_key(tool, args)
        if key in self._state.always_allowed:
            await self._bus.publish(
                ev.ToolApproved(**self._ids(), tool_call_id=call_id, tool=tool.name, by="allowlist")
            )
            return ApprovalAnswer(True)
        await self._bus.publish(
            ev.ApprovalRequested(**self._ids(), tool_call_id=call_id, tool=tool.name)
        )
        asked = time.perf_counter()
        response = await self._client.request_permission(
            session_id=self._state.session_id,
            tool_call=ToolCallUpdate(
                tool_call_id=call_id, title=title, kind=tool.kind, status="pending", raw_input=args
            ),
            options=_OPTIONS,
        )
        outcome = response.outcome
        option = outcome.option_id if isinstance(outcome, AllowedOutcome) else "cancelled"
        approved = option in ("allow_once", "allow_always")
        edited = _edited(response.field_meta, getattr(outcome, "field_meta", None))
        if option == "allow_always" and edited is None:
            self._state.always_allowed.add(key)
        await self._bus.publish(
            ev.ApprovalResolved(
                **self._ids(),
                tool_call_id=call_id,
                tool=tool.name,
                outcome="edited" if approved and edited is not None else option,
                approved=approved,
                wait_ms=(time.perf_counter() - asked) * 1000,
                always_key=key if option == "allow_always" and edited is None else None,
            )
        )
        if approved:
            await self._bus.publish(
                ev.ToolApproved(**self._ids(), tool_call_id=call_id, tool=tool.name, by="user")
            )
        return ApprovalAnswer(approved, edited if approved else None)
