"""A long session keeps working: older turns are condensed and the planted facts survive."""

from __future__ import annotations

from runtime_helpers import EditorClient, make_replica

from codelab_common import events as ev
from codelab_common.sessions import MemorySessionChannel
from codelab_runtime.condense import SUMMARY_PREFIX, Condenser
from codelab_runtime.model.base import ChatRequest
from codelab_runtime.persistence.store import SessionStore
from codelab_runtime.testing import ScriptedChatModel, ScriptedResponse, ScriptedToolCall

PLANTED = "PLANTED: the payment retries live in src/billing/retry.py; decided: max 3 retries"


def faithful_summary(request: ChatRequest) -> ScriptedResponse:
    # A fake summariser that keeps exactly the planted lines it is shown.
    transcript = request.messages[-1]["content"]
    kept = [line for line in transcript.splitlines() if "PLANTED" in line]
    return ScriptedResponse(text=["Summary. " + " | ".join(kept)])


async def test_long_session_is_condensed_and_keeps_what_matters(
    channel: MemorySessionChannel, store: SessionStore, client: EditorClient
) -> None:
    summariser = ScriptedChatModel([faithful_summary] * 5)
    condenser = Condenser(summariser, ratio=0.8, keep_recent=2)
    replica = make_replica(channel, store, "rt-a", condenser=condenser, context_window_tokens=4000)
    replica.supervisor.start()
    filler = "x" * 6000  # ~1500 tokens per answer
    try:
        replica.model.add(
            ScriptedResponse(
                tool_calls=[
                    ScriptedToolCall("update_plan", {"entries": [{"content": "Keep retries at 3"}]})
                ]
            ),
            ScriptedResponse(text=[filler]),
            ScriptedResponse(text=[filler]),
            ScriptedResponse(text=[filler]),
            ScriptedResponse(text=["Retries are in src/billing/retry.py."]),
        )
        await client.new_session()
        for text in (PLANTED, "tell me more", "and more", "Where are the retries?"):
            response = await client.wait_response(await client.prompt(text), within=10)
            assert response["result"]["stopReason"] == "end_turn"

        assert summariser.requests, "the session was never condensed"
        assert any(PLANTED in r.messages[-1]["content"] for r in summariser.requests)
        last = replica.model.requests[-1]
        assert last.messages[0]["role"] == "system"
        assert "Keep retries at 3" in last.messages[0]["content"]  # the plan survives
        assert last.messages[-1] == {"role": "user", "content": "Where are the retries?"}
        summaries = [m for m in last.messages if str(m.get("content")).startswith(SUMMARY_PREFIX)]
        assert len(summaries) == 1
        assert PLANTED in summaries[0]["content"]
        assert sum(len(str(m.get("content"))) for m in last.messages) < 3 * len(filler)

        condensed = [e for e in replica.events if isinstance(e, ev.ContextCondensed)]
        assert condensed
        assert condensed[-1].tokens_after < condensed[-1].tokens_before
        thoughts = client.of_kind("agent_thought_chunk")
        assert any("Condensed" in t["content"]["text"] for t in thoughts)
        # The condensed history is what is stored: a restart would see the same context.
        state = await store.load(client.session_id)
        assert state is not None
        assert [h.message for h in state.history][-1]["content"] == (
            "Retries are in src/billing/retry.py."
        )
        assert str(state.history[0].message["content"]).startswith(SUMMARY_PREFIX)
    finally:
        await replica.supervisor.stop()
