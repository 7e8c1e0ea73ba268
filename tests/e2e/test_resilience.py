"""Nothing is lost when a socket drops or a runtime replica dies mid-turn."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from acp.schema import AgentMessageChunk

from codelab_common.protocol import EXT_RESPONSE
from codelab_testing.acp_driver import acp_connection
from codelab_testing.fake_provider_models import Reply
from codelab_testing.mesh_fixture import RunningMesh


async def test_reconnect_to_another_gateway_gets_exactly_what_was_missed(
    mesh: RunningMesh, tmp_path: Path
) -> None:
    script = f"reconnect-{uuid.uuid4().hex[:8]}"
    words = [f"w{i:02d} " for i in range(30)]
    mesh.set_script(script, [Reply.text("".join(words), chunk_chars=4, delay_per_chunk=0.05)])
    token = mesh.token("demo", "demo")
    async with acp_connection(mesh.gateway_ws_url(0), token, tmp_path) as first:
        session_id = await first.new(tmp_path)
        turn = asyncio.create_task(first.prompt(f"talk [[script:{script}]]"))
        await first.client.wait_for(lambda: len(first.client.text()) >= 20)
        seen_text = first.client.text()
        last_seq = first.transport.last_seq
        turn.cancel()  # the editor goes away mid-turn; the agent keeps going
    assert last_seq is not None
    await asyncio.sleep(2.0)  # let the turn finish while nobody is connected

    async with acp_connection(mesh.gateway_ws_url(1), token, tmp_path) as second:
        await second.conn.load_session(
            cwd=str(tmp_path),
            session_id=session_id,
            codelab={"lastSeq": last_seq},
        )
        # The prompt's response was addressed to the first connection: it comes as an extension.
        late = await asyncio.wait_for(second.client.late_responses.get(), 10)
    missed = second.client.text()
    assert seen_text + missed == "".join(words), "a chunk was lost or repeated"
    response = late.get("response", late)
    assert response["result"]["stopReason"] == "end_turn"
    assert EXT_RESPONSE == "_codelab/response"


async def test_runtime_crash_mid_turn_is_taken_over(mesh: RunningMesh, tmp_path: Path) -> None:
    script = f"crash-{uuid.uuid4().hex[:8]}"
    mesh.set_script(
        script,
        [
            Reply.text("z" * 400, chunk_chars=4, delay_per_chunk=0.1),  # interrupted by the crash
            Reply.text("Recovered after a runtime crash."),
        ],
    )
    token = mesh.token("demo", "demo")
    crashed: str | None = None
    try:
        async with acp_connection(mesh.ws_url, token, tmp_path) as acp:
            session_id = await acp.new(tmp_path)
            turn = asyncio.create_task(acp.prompt(f"go [[script:{script}]]"))
            await acp.client.wait_for(
                lambda: any(isinstance(u, AgentMessageChunk) for u in acp.client.updates)
            )
            crashed = mesh.session_owner(session_id)
            assert crashed is not None
            mesh.crash(crashed)
            response = await asyncio.wait_for(turn, 60)
            assert response.stop_reason == "end_turn"
            assert acp.client.text().endswith("Recovered after a runtime crash.")
            assert mesh.session_owner(session_id) not in (None, crashed)
    finally:
        if crashed is not None:
            mesh.restart(crashed)
