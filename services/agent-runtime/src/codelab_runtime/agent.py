"""The runtime's ACP ``Agent``: one instance per owned session, served over its streams."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from acp import PROTOCOL_VERSION, RequestError
from acp.agent.connection import AgentSideConnection
from acp.helpers import plan_entry, update_plan
from acp.schema import (
    AgentCapabilities,
    Implementation,
    InitializeResponse,
    LoadSessionResponse,
    NewSessionResponse,
    PromptResponse,
    SetSessionModeResponse,
)
from opentelemetry import trace

from codelab_common import events as ev
from codelab_common.protocol import META_NAMESPACE, JsonRpcErrorCode
from codelab_common.trace_context import context_from_meta
from codelab_runtime.agents.specs import mode_state
from codelab_runtime.loop import CancelScope, run_turn
from codelab_runtime.prompt_text import prompt_to_text
from codelab_runtime.runtime_deps import RuntimeDeps
from codelab_runtime.session_updates import report_usage, switch_mode
from codelab_runtime.state import SessionState
from codelab_runtime.transport import META_INPUT_ID, SessionTransport
from codelab_runtime.turns import TurnFactory

log = logging.getLogger(__name__)
_tracer = trace.get_tracer("codelab.runtime")


def _codelab_meta(kwargs: dict[str, Any]) -> dict[str, Any]:
    value = kwargs.get(META_NAMESPACE)
    return value if isinstance(value, dict) else {}


class RuntimeAgent:
    """Implements ACP's agent side for the one session whose streams it is bound to."""

    def __init__(
        self,
        client: AgentSideConnection,
        deps: RuntimeDeps,
        session_id: str,
        owner: str,
        transport: SessionTransport,
        state: SessionState | None,
    ) -> None:
        self._client = client
        self._deps = deps
        self._session_id = session_id
        self._owner = owner
        self._transport = transport
        self.state = state
        self._turn: asyncio.Task[Any] | None = None
        self._cancelled = False
        self._scope = CancelScope()

    @property
    def busy(self) -> bool:
        return self._turn is not None and not self._turn.done()

    def _modes(self, state: SessionState) -> Any:
        return mode_state(self._deps.agents, state.mode)

    def _require(self, session_id: str) -> SessionState:
        if session_id != self._session_id or self.state is None:
            raise RequestError(
                JsonRpcErrorCode.SESSION_NOT_FOUND, "Session not found", {"sessionId": session_id}
            )
        return self.state

    async def initialize(self, protocol_version: int, **kwargs: Any) -> InitializeResponse:
        return InitializeResponse(
            protocol_version=min(protocol_version, PROTOCOL_VERSION),
            agent_capabilities=AgentCapabilities(load_session=True),
            agent_info=Implementation(name="codelab-runtime", title="CodeLab", version="0.1.0"),
        )

    async def new_session(self, cwd: str, **kwargs: Any) -> NewSessionResponse:
        session_id = _codelab_meta(kwargs).get("sessionId")
        if not isinstance(session_id, str) or not session_id:
            raise RequestError.invalid_params({"reason": "_meta.codelab.sessionId is required"})
        if session_id != self._session_id:
            raise RequestError.invalid_params({"reason": "sessionId does not match this session"})
        if self.state is None:  # a redelivered session/new finds the session already made
            self.state = SessionState(session_id, self._owner, cwd, self._deps.default_mode)
            await self._deps.bus.publish(
                ev.SessionCreated(
                    session_id=session_id, owner=self._owner, cwd=cwd, mode=self.state.mode
                )
            )
        return NewSessionResponse(session_id=session_id, modes=self._modes(self.state))

    async def load_session(self, cwd: str, session_id: str, **kwargs: Any) -> LoadSessionResponse:
        state = self._require(session_id)
        # The gateway replays the output stream itself; what we owe a reconnected client is
        # the requests it has not answered yet, in case it saw them before it dropped.
        await self._transport.resend_outstanding()
        if state.plan:
            await self._client.session_update(
                session_id, update_plan(plan_entry(**e) for e in state.plan)
            )
        return LoadSessionResponse(modes=self._modes(state))

    async def set_session_mode(
        self, session_id: str, mode_id: str, **kwargs: Any
    ) -> SetSessionModeResponse:
        state = self._require(session_id)
        if mode_id not in self._deps.agents:
            raise RequestError.invalid_params({"reason": f"unknown mode '{mode_id}'"})
        if mode_id != state.mode:
            await switch_mode(
                self._client,
                self._deps.bus,
                state,
                mode_id,
                reason="set by user",
                by="user",
                correlation_id=None,
            )
        return SetSessionModeResponse()

    async def prompt(self, session_id: str, prompt: list[Any], **kwargs: Any) -> PromptResponse:
        state = self._require(session_id)
        if self.busy:
            raise RequestError.invalid_request({"reason": "a prompt turn is already running"})
        input_id = _codelab_meta(kwargs).get(META_INPUT_ID) or "local"
        turn_id = f"turn_{input_id}"
        # A prompt we see again (its previous owner died mid-turn) resumes where it was:
        # its messages are durable, and nothing that may have run is run again.
        resumed = any(h.correlation_id == turn_id for h in state.history)
        user_text = None if resumed else prompt_to_text(prompt)
        self._cancelled = False
        factory = TurnFactory(self._client, self._deps, state, turn_id)
        self._scope = factory.cancel_scope
        turn = factory.make(state)
        # The turn's events and model calls share one trace (the task copies the context),
        # continuing the client's / gateway's when the prompt carries one in ``_meta``.
        with _tracer.start_as_current_span(
            "runtime.prompt_turn",
            context=context_from_meta(kwargs),
            attributes={"codelab.session_id": session_id, "codelab.turn_id": turn_id},
        ):
            self._turn = asyncio.create_task(run_turn(turn, user_text))
            try:
                stop_reason = await self._turn
            except asyncio.CancelledError:
                if self._cancelled and self._turn.cancelled():
                    return PromptResponse(stop_reason="cancelled")
                raise
            finally:
                self._transport.forget_outstanding()
            await report_usage(turn)
        return PromptResponse(stop_reason=stop_reason)

    async def cancel(self, session_id: str, **kwargs: Any) -> None:
        if session_id == self._session_id and self.busy and self._turn is not None:
            self._cancelled = True
            self._scope.by_user = True
            self._turn.cancel()

    async def ext_method(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        raise RequestError.method_not_found(f"_{method}")

    async def ext_notification(self, method: str, params: dict[str, Any]) -> None:
        log.debug("ignoring extension notification %s", method)

    def on_connect(self, conn: Any) -> None:
        return None
