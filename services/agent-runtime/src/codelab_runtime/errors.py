"""Typed errors of the runtime."""

from __future__ import annotations

from codelab_common.errors import BadRequest, CodelabError, UpstreamError


class ModelCallError(UpstreamError):
    """The llm-proxy failed or answered something we cannot use."""

    code = "llm_call_failed"
    title = "Model call failed"


class ModelRequestsDisabled(CodelabError):
    """A network model was called while ``allow_model_requests`` is off (unit tests)."""

    code = "model_requests_disabled"
    title = "Model requests are disabled"


class TokenError(UpstreamError):
    """The auth service did not give us a client-credentials token."""

    code = "token_unavailable"
    title = "Could not obtain a service token"


class ToolArgumentsError(BadRequest):
    """The model called a tool with arguments that do not match its schema."""

    code = "invalid_tool_arguments"
    title = "Invalid tool arguments"


class AgentConfigError(CodelabError):
    """The custom agents file is invalid; the runtime refuses to start with it."""

    code = "agent_config_invalid"
    title = "Invalid agent configuration"
