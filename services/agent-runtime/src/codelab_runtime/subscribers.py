"""Event-bus subscribers: Prometheus metrics, persistence, and a structured audit line."""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, Counter, Histogram

from codelab_common import events as ev
from codelab_common.eventbus import EventBus
from codelab_runtime.persistence.store import SessionStore
from codelab_runtime.persistence.tasks import AUDIT_EXCLUDE

audit_log = logging.getLogger("codelab.audit")


class RuntimeMetrics:
    """Turns, tool calls, mode switches, model calls and tokens, in the app's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.turns = Counter(
            "codelab_runtime_turns", "Prompt turns by outcome", ["outcome"], registry=registry
        )
        self.tool_calls = Counter(
            "codelab_runtime_tool_calls",
            "Tool calls by tool and outcome",
            ["tool", "outcome"],
            registry=registry,
        )
        self.mode_switches = Counter(
            "codelab_runtime_mode_switches",
            "Agent mode switches",
            ["from_mode", "to_mode", "by"],
            registry=registry,
        )
        self.llm_calls = Counter(
            "codelab_runtime_llm_calls",
            "Model calls by agent and outcome",
            ["agent", "outcome"],
            registry=registry,
        )
        self.tokens = Counter(
            "codelab_runtime_llm_tokens", "Tokens used", ["agent", "kind"], registry=registry
        )
        self.approvals = Counter(
            "codelab_runtime_approvals", "Approval answers", ["outcome"], registry=registry
        )
        self.approval_wait = Histogram(
            "codelab_runtime_approval_wait_seconds",
            "Time the user took to answer an approval",
            registry=registry,
        )
        self.subtasks = Counter(
            "codelab_runtime_subtasks",
            "Subtasks by mode and outcome",
            ["mode", "outcome"],
            registry=registry,
        )
        self.cost = Counter(
            "codelab_runtime_cost_usd", "Estimated model cost of turns", registry=registry
        )
        self.condensations = Counter(
            "codelab_runtime_context_condensations",
            "Context condensations",
            ["agent"],
            registry=registry,
        )

    def subscribe(self, bus: EventBus) -> None:
        bus.subscribe(ev.TaskCompleted, lambda e: self.turns.labels(e.stop_reason).inc())
        bus.subscribe(ev.TaskCancelled, lambda e: self.turns.labels("cancelled").inc())
        bus.subscribe(ev.TaskFailed, lambda e: self.turns.labels("failed").inc())
        bus.subscribe(ev.ToolCompleted, lambda e: self.tool_calls.labels(e.tool, "completed").inc())
        bus.subscribe(ev.ToolFailed, lambda e: self.tool_calls.labels(e.tool, "failed").inc())
        bus.subscribe(
            ev.ToolRejected, lambda e: self.tool_calls.labels(e.tool, f"rejected_{e.reason}").inc()
        )
        bus.subscribe(
            ev.ModeSwitched,
            lambda e: self.mode_switches.labels(e.from_mode, e.to_mode, e.by).inc(),
        )
        bus.subscribe(ev.LlmCallFailed, lambda e: self.llm_calls.labels(e.agent, "failed").inc())
        bus.subscribe(ev.LlmCallCompleted, self._on_llm_completed)
        bus.subscribe(ev.ApprovalResolved, self._on_approval)
        bus.subscribe(ev.SubtaskReturned, lambda e: self.subtasks.labels(e.mode, e.outcome).inc())
        bus.subscribe(ev.ContextCondensed, lambda e: self.condensations.labels(e.agent).inc())
        bus.subscribe(ev.UsageReported, lambda e: self.cost.inc(e.cost_usd))

    def _on_approval(self, event: ev.ApprovalResolved) -> None:
        self.approvals.labels(event.outcome).inc()
        self.approval_wait.observe(event.wait_ms / 1000)

    def _on_llm_completed(self, event: ev.LlmCallCompleted) -> None:
        self.llm_calls.labels(event.agent, "completed").inc()
        self.tokens.labels(event.agent, "prompt").inc(event.prompt_tokens)
        self.tokens.labels(event.agent, "completion").inc(event.completion_tokens)


class PersistenceSubscriber:
    """Writes sessions, mode changes and messages as they happen (awaited: durable first)."""

    def __init__(self, store: SessionStore) -> None:
        self._store = store

    def subscribe(self, bus: EventBus) -> None:
        bus.subscribe(ev.SessionCreated, self._on_created)
        bus.subscribe(ev.ModeSwitched, self._on_mode)
        bus.subscribe(ev.UserMessage, self._on_message)
        bus.subscribe(ev.AgentMessage, self._on_message)
        bus.subscribe(ev.ToolMessage, self._on_message)
        bus.subscribe(ev.PlanUpdated, self._on_plan)
        bus.subscribe(ev.ApprovalResolved, self._on_approval)
        bus.subscribe(ev.UsageReported, self._on_usage)
        bus.subscribe_all(self._store.tasks.audit)

    async def _on_created(self, event: ev.SessionCreated) -> None:
        await self._store.create_session(event.session_id, event.owner, event.cwd, event.mode)

    async def _on_mode(self, event: ev.ModeSwitched) -> None:
        await self._store.set_mode(event.session_id, event.to_mode)

    async def _on_message(self, event: ev.UserMessage | ev.AgentMessage | ev.ToolMessage) -> None:
        agent = event.agent if not isinstance(event, ev.UserMessage) else ""
        # A prompt turn's own task id is its correlation id; anything else is a subtask.
        task_id = event.task_id if event.task_id != event.correlation_id else None
        await self._store.add_message(
            event.session_id,
            event.message,
            agent_mode=agent,
            correlation_id=event.correlation_id,
            task_id=task_id,
        )

    async def _on_plan(self, event: ev.PlanUpdated) -> None:
        await self._store.set_session_fields(event.session_id, plan=event.entries)

    async def _on_approval(self, event: ev.ApprovalResolved) -> None:
        if event.always_key is None:
            return
        state = await self._store.load(event.session_id)
        allowed = sorted((state.always_allowed if state else set()) | {event.always_key})
        await self._store.set_session_fields(event.session_id, always_allowed=allowed)

    async def _on_usage(self, event: ev.UsageReported) -> None:
        await self._store.add_usage(
            event.session_id, event.prompt_tokens, event.completion_tokens, event.cost_usd
        )


def audit(event: ev.BaseEvent) -> None:
    """One structured log line per event (logger ``codelab.audit``)."""
    fields = event.model_dump(mode="json", exclude=AUDIT_EXCLUDE)
    audit_log.info("event %s", fields.get("type"), extra={"event": fields})


def install_subscribers(
    bus: EventBus, store: SessionStore, registry: CollectorRegistry | None
) -> RuntimeMetrics | None:
    """Wire the standard subscribers; persistence first, so observers see durable facts."""
    PersistenceSubscriber(store).subscribe(bus)
    metrics = None
    if registry is not None:
        metrics = RuntimeMetrics(registry)
        metrics.subscribe(bus)
    bus.subscribe_all(audit)
    return metrics
