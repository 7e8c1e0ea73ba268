"""Which sessions this replica serves: wakeups, leases, takeover, idle release.

The supervisor reads wakeups; for a session nobody owns it takes the lease, claims the
input its previous owner left pending, and serves the session's ACP connection until
the session has been idle for ``idle_release_s`` (or the lease is lost, or the replica
stops). After releasing it looks once more for input that arrived in between: the
wakeup for it may have been acked while we still held the lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from acp.agent.connection import AgentSideConnection

from codelab_common import events as ev
from codelab_common.sessions import InputEntry, SessionChannel
from codelab_runtime.agent import RuntimeAgent
from codelab_runtime.runtime_deps import RuntimeDeps
from codelab_runtime.transport import SessionTransport

log = logging.getLogger(__name__)


class SessionWorker:
    """Serves one owned session until idle, lease loss or stop."""

    def __init__(
        self,
        supervisor: RuntimeSupervisor,
        session_id: str,
        claimed: list[InputEntry],
    ) -> None:
        self._sup = supervisor
        self.session_id = session_id
        self._claimed = claimed
        self.lost_lease = False
        self._transport: SessionTransport | None = None

    def request_stop(self) -> None:
        """Ask the session to wind down: its input loop ends at the next read timeout."""
        if self._transport is not None:
            self._transport.stop()

    async def run(self) -> None:
        sup = self._sup
        deps = sup.deps
        state = await deps.store.load(self.session_id)
        record = await sup.channel.get_session(self.session_id)
        owner = record.owner if record else (state.owner if state else "")
        if state is not None:
            await deps.bus.publish(
                ev.SessionResumed(
                    session_id=self.session_id,
                    owner=state.owner,
                    mode=state.mode,
                    message_count=len(state.history),
                    instance_id=sup.instance_id,
                )
            )
        holder: list[RuntimeAgent] = []
        transport = SessionTransport(
            sup.channel,
            self.session_id,
            sup.instance_id,
            idle_s=sup.idle_release_s,
            is_busy=lambda: bool(holder) and holder[0].busy,
            block_ms=sup.read_block_ms,
            initial=self._claimed,
        )
        self._transport = transport

        def make_agent(conn: Any) -> Any:
            agent = RuntimeAgent(conn, deps, self.session_id, owner, transport, state)
            holder.append(agent)
            return agent

        conn = AgentSideConnection(make_agent, transport, listening=False)
        listen = asyncio.create_task(conn.listen(), name=f"session:{self.session_id}")
        renew = asyncio.create_task(self._renew(listen))
        try:
            await listen
        finally:
            renew.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renew
            await conn.close()

    async def _renew(self, listen: asyncio.Task[None]) -> None:
        sup = self._sup
        while True:
            await asyncio.sleep(sup.lease_ttl_ms / 3000)
            if not await sup.channel.renew_lease(
                self.session_id, sup.instance_id, sup.lease_ttl_ms
            ):
                log.warning("lost the lease of session %s", self.session_id)
                self.lost_lease = True
                self.request_stop()
                listen.cancel()
                return


class RuntimeSupervisor:
    """Turns wakeups into owned sessions for one runtime replica (``instance_id``)."""

    def __init__(
        self,
        channel: SessionChannel,
        deps: RuntimeDeps,
        instance_id: str,
        *,
        lease_ttl_ms: int = 15_000,
        idle_release_s: float = 300.0,
        wakeup_block_ms: int = 1_000,
        read_block_ms: int = 1_000,
    ) -> None:
        self.channel = channel
        self.deps = deps
        self.instance_id = instance_id
        self.lease_ttl_ms = lease_ttl_ms
        self.idle_release_s = idle_release_s
        self.wakeup_block_ms = wakeup_block_ms
        self.read_block_ms = read_block_ms
        self._sessions: dict[str, asyncio.Task[None]] = {}
        self._workers: dict[str, SessionWorker] = {}
        self._stopping = False
        self._main: asyncio.Task[None] | None = None
        self._sweeper: asyncio.Task[None] | None = None

    @property
    def owned_sessions(self) -> set[str]:
        return set(self._sessions)

    def start(self) -> None:
        self._main = asyncio.create_task(self.run(), name=f"supervisor:{self.instance_id}")
        self._sweeper = asyncio.create_task(
            self.sweep_orphans(), name=f"sweeper:{self.instance_id}"
        )

    async def sweep_orphans(self) -> None:
        """Take over sessions whose owner died mid-turn, without waiting for new input.

        A dead replica's lease expires, but its pending input (a prompt the client is still
        waiting on) produces no new wakeup; the channel remembers leased sessions instead.
        """
        while not self._stopping:
            await asyncio.sleep(self.lease_ttl_ms / 1000)
            try:
                for session_id in await self.channel.orphaned_sessions():
                    log.info("taking over orphaned session %s", session_id)
                    await self._try_take(session_id)
            except Exception:  # a Redis hiccup must not kill the sweeper
                log.exception("orphan sweep failed")

    async def run(self) -> None:
        while not self._stopping:
            try:
                wakeups = await self.channel.next_wakeups(
                    self.instance_id, block_ms=self.wakeup_block_ms
                )
                for session_id in dict.fromkeys(w.session_id for w in wakeups):
                    await self._try_take(session_id)
                await self.channel.ack_wakeups([w.entry_id for w in wakeups])
            except asyncio.CancelledError:
                raise
            except Exception:  # a Redis hiccup must not kill the replica's only loop
                log.exception("supervisor loop error")
                await asyncio.sleep(1.0)

    async def _try_take(self, session_id: str) -> None:
        if session_id in self._sessions:
            return
        if not await self.channel.acquire_lease(session_id, self.instance_id, self.lease_ttl_ms):
            return
        self._sessions[session_id] = asyncio.create_task(self._serve(session_id))

    async def _serve(self, session_id: str) -> None:
        try:
            while True:
                claimed = await self.channel.claim_input(session_id, self.instance_id)
                worker = SessionWorker(self, session_id, claimed)
                self._workers[session_id] = worker
                try:
                    await worker.run()
                finally:
                    if not worker.lost_lease:
                        await self.channel.release_lease(session_id, self.instance_id)
                if self._stopping or worker.lost_lease:
                    return
                if not await self._input_after_release(session_id):
                    return
        except Exception:
            log.exception("serving session %s failed", session_id)
        finally:
            self._sessions.pop(session_id, None)
            self._workers.pop(session_id, None)

    async def _input_after_release(self, session_id: str) -> bool:
        """True if input arrived while we released and we hold the lease again to serve it."""
        leftover = await self.channel.read_input(session_id, self.instance_id, block_ms=1)
        if not leftover:
            return False
        # The entries are now pending on us; claim_input in the next round hands them over.
        return await self.channel.acquire_lease(session_id, self.instance_id, self.lease_ttl_ms)

    async def stop(self) -> None:
        """Stop serving: in-flight turns are abandoned (their input stays pending), leases freed."""
        # Cooperative first (every loop wakes up within its block timeout): a cancel
        # delivered inside a blocked stream read is the least predictable way to stop.
        self._stopping = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        for worker in list(self._workers.values()):
            worker.request_stop()
        tasks = [*self._sessions.values(), *([self._main] if self._main else [])]
        if not tasks:
            return
        grace = 2 * max(self.read_block_ms, self.wakeup_block_ms) / 1000 + 1
        _, late = await asyncio.wait(tasks, timeout=grace)
        for task in late:
            task.cancel()
        for task in late:
            with contextlib.suppress(asyncio.CancelledError):
                await task
