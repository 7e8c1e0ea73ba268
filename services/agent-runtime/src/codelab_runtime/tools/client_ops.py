"""Tool bodies: each performs its work on the client through ACP agent->client requests."""

from __future__ import annotations

import asyncio
import contextlib
import posixpath
from dataclasses import dataclass

from acp import RequestError
from acp.agent.connection import AgentSideConnection

from codelab_runtime.tools.definitions import truncate


@dataclass(frozen=True, slots=True)
class ToolLimits:
    """Bounds on what a tool may cost: command time and output size."""

    command_timeout_s: float
    output_limit_bytes: int


class ClientOps:
    """File and command operations of one session, executed by the client."""

    def __init__(
        self, client: AgentSideConnection, session_id: str, cwd: str, limits: ToolLimits
    ) -> None:
        self._client = client
        self._session_id = session_id
        self._cwd = cwd
        self._limits = limits
        self._background: set[asyncio.Task[None]] = set()

    def resolve(self, path: str) -> str:
        """ACP wants absolute paths; relative ones are taken from the session's cwd."""
        return posixpath.normpath(posixpath.join(self._cwd, path))

    async def read_file(self, path: str, line: int | None = None, limit: int | None = None) -> str:
        response = await self._client.read_text_file(
            session_id=self._session_id, path=self.resolve(path), line=line, limit=limit
        )
        return truncate(response.content, self._limits.output_limit_bytes)

    async def read_whole(self, path: str) -> str:
        """The file's full content (for edits: never truncated)."""
        response = await self._client.read_text_file(
            session_id=self._session_id, path=self.resolve(path)
        )
        return response.content

    async def write_file(self, path: str, content: str) -> str:
        await self._client.write_text_file(
            session_id=self._session_id, path=self.resolve(path), content=content
        )
        return f"Wrote {len(content.encode('utf-8'))} bytes to {path}."

    async def list_files(self, path: str) -> str:
        # A fixed, read-only command: no shell, the path is a single argument.
        args = [self.resolve(path), "-not", "-path", "*/.*", "-type", "f"]
        code, output = await self.terminal("find", args)
        return output if code == 0 else f"find exited with {code}:\n{output}"

    async def search_files(self, pattern: str, path: str) -> str:
        args = ["-rn", "-I", "--exclude-dir=.*", "-e", pattern, "--", self.resolve(path)]
        code, output = await self.terminal("grep", args)
        if code == 1:
            return "No matches."
        return output if code == 0 else f"grep exited with {code}:\n{output}"

    async def execute_command(self, command: str) -> str:
        code, output = await self.terminal("sh", ["-c", command])
        return f"Exit code: {code}\n{output}"

    async def terminal(self, command: str, args: list[str]) -> tuple[int | None, str]:
        """Run a command in a client terminal: create, wait (bounded), read output, release."""
        created = await self._client.create_terminal(
            session_id=self._session_id,
            command=command,
            args=args,
            cwd=self._cwd,
            output_byte_limit=self._limits.output_limit_bytes,
        )
        terminal_id = created.terminal_id
        try:
            result = await self._await_terminal(terminal_id)
        except asyncio.CancelledError:
            # Cancellation must be prompt: release without waiting for the client's answer.
            task = asyncio.create_task(self._release(terminal_id))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            raise
        await self._release(terminal_id)
        return result

    async def _release(self, terminal_id: str) -> None:
        with contextlib.suppress(RequestError, ConnectionError):
            await self._client.release_terminal(
                session_id=self._session_id, terminal_id=terminal_id
            )

    async def _await_terminal(self, terminal_id: str) -> tuple[int | None, str]:
        timed_out = False
        exit_code: int | None = None
        try:
            exited = await asyncio.wait_for(
                self._client.wait_for_terminal_exit(
                    session_id=self._session_id, terminal_id=terminal_id
                ),
                timeout=self._limits.command_timeout_s,
            )
            exit_code = exited.exit_code
        except TimeoutError:
            timed_out = True
            with contextlib.suppress(RequestError):
                await self._client.kill_terminal(
                    session_id=self._session_id, terminal_id=terminal_id
                )
        out = await self._client.terminal_output(
            session_id=self._session_id, terminal_id=terminal_id
        )
        text = truncate(out.output, self._limits.output_limit_bytes)
        if out.truncated:
            text += "\n[output truncated by the client]"
        if timed_out:
            text += f"\n[command timed out after {self._limits.command_timeout_s:g}s]"
        if exit_code is None and out.exit_status is not None:
            exit_code = out.exit_status.exit_code
        return exit_code, text
