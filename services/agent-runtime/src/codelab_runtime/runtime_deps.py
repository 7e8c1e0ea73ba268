"""What every session's agent shares on one replica."""

from __future__ import annotations

from dataclasses import dataclass, field

from codelab_common.eventbus import EventBus
from codelab_runtime.agents.specs import AgentSpec
from codelab_runtime.condense import Condenser
from codelab_runtime.model.base import ChatModel
from codelab_runtime.model_window import ModelWindow
from codelab_runtime.persistence.store import SessionStore
from codelab_runtime.tools.client_ops import ToolLimits
from codelab_runtime.tools.policy import ApprovalPolicy


@dataclass(frozen=True, slots=True)
class Prices:
    """What a turn may spend, and what the model costs (USD per million tokens) for calls
    whose cost the llm-proxy does not report."""

    input_usd_per_mtok: float = 0.0
    output_usd_per_mtok: float = 0.0
    max_cost_usd_per_turn: float | None = None


@dataclass(frozen=True, slots=True)
class RuntimeDeps:
    """The model, the bus, storage, the agents, limits and the approval policy."""

    model: ChatModel
    bus: EventBus
    store: SessionStore
    agents: dict[str, AgentSpec]
    limits: ToolLimits
    max_model_calls: int
    default_mode: str
    policy: ApprovalPolicy = field(default_factory=ApprovalPolicy)
    context_window: ModelWindow = field(default_factory=lambda: ModelWindow(128_000))
    condenser: Condenser | None = None
    max_tool_calls: int = 100
    prices: Prices = field(default_factory=Prices)
