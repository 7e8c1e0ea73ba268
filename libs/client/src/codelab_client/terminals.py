"""``terminal/*``: commands run as local subprocesses inside the workspace."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import count

from acp import RequestError
from acp.schema import TerminalExitStatus

from codelab_client.workspace import Workspace

DEFAULT_OUTPUT_LIMIT = 1024 * 1024
# A bare command line with shell syntax in it is what agents send when they give no args.
_NULL, _PIPE, _OUT = asyncio.subprocess.DEVNULL, asyncio.subprocess.PIPE, asyncio.subprocess.STDOUT
_SHELL_CHARS = set(" \t|&;<>()$`\\\"'*?[]#~=%{}\n")


@dataclass
class Terminal:
    """One running (or finished) command and the tail of its output."""

    process: asyncio.subprocess.Process
    limit: int
    buffer: bytearray = field(default_factory=bytearray)
    truncated: bool = False
    reader: asyncio.Task[None] | None = None

    def append(self, chunk: bytes) -> None:
        self.buffer.extend(chunk)
        if len(self.buffer) > self.limit:
            # ACP keeps the newest output: drop from the beginning.
            del self.buffer[: len(self.buffer) - self.limit]
            self.truncated = True

    def output(self) -> str:
        data = bytes(self.buffer)
        if self.truncated:
            # The cut may have split a UTF-8 sequence; skip its continuation bytes.
            while data and (data[0] & 0xC0) == 0x80:
                data = data[1:]
        return data.decode("utf-8", errors="replace")

    def exit_status(self) -> TerminalExitStatus | None:
        code = self.process.returncode
        if code is None or (self.reader is not None and not self.reader.done()):
            return None
        if code < 0:
            return TerminalExitStatus(exit_code=None, signal=_signal_name(-code))
        return TerminalExitStatus(exit_code=code, signal=None)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


class TerminalManager:
    """Creates, tracks and reaps the agent's terminals for one client."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self._terminals: dict[str, Terminal] = {}
        self._ids = count(1)

    async def create(
        self,
        command: str,
        args: list[str] | None,
        env: Mapping[str, str],
        cwd: str | None,
        output_byte_limit: int | None,
    ) -> str:
        workdir = self.workspace.resolve_dir(cwd)
        # The command inherits the developer's environment, as in their own terminal.
        full_env = {**os.environ, **env}
        try:
            if not args and any(ch in _SHELL_CHARS for ch in command):
                process = await asyncio.create_subprocess_shell(
                    command,
                    cwd=workdir,
                    env=full_env,
                    stdin=_NULL,
                    stdout=_PIPE,
                    stderr=_OUT,
                    start_new_session=True,
                )
            else:
                process = await asyncio.create_subprocess_exec(
                    command,
                    *(args or []),
                    cwd=workdir,
                    env=full_env,
                    stdin=_NULL,
                    stdout=_PIPE,
                    stderr=_OUT,
                    start_new_session=True,
                )
        except OSError as exc:
            raise RequestError.internal_error(
                {"details": f"cannot start {command!r}: {exc}"}
            ) from exc
        limit = DEFAULT_OUTPUT_LIMIT if output_byte_limit is None else max(output_byte_limit, 0)
        terminal = Terminal(process=process, limit=limit)
        terminal.reader = asyncio.create_task(_pump(terminal))
        terminal_id = f"term_{next(self._ids)}"
        self._terminals[terminal_id] = terminal
        return terminal_id

    def get(self, terminal_id: str) -> Terminal:
        try:
            return self._terminals[terminal_id]
        except KeyError:
            raise RequestError.invalid_params(
                {"terminalId": terminal_id, "reason": "unknown"}
            ) from None

    async def wait(self, terminal_id: str) -> TerminalExitStatus:
        terminal = self.get(terminal_id)
        await terminal.process.wait()
        if terminal.reader is not None:
            await terminal.reader
        status = terminal.exit_status()
        assert status is not None  # the process has exited and its output is drained
        return status

    def kill(self, terminal_id: str) -> None:
        terminal = self.get(terminal_id)
        if terminal.process.returncode is None:
            # start_new_session gave the command its own group: kill the shell and children.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(terminal.process.pid, signal.SIGKILL)

    async def release(self, terminal_id: str) -> None:
        self.kill(terminal_id)
        terminal = self._terminals.pop(terminal_id)
        await terminal.process.wait()
        if terminal.reader is not None:
            terminal.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await terminal.reader

    async def close(self) -> None:
        for terminal_id in list(self._terminals):
            await self.release(terminal_id)


async def _pump(terminal: Terminal) -> None:
    stream = terminal.process.stdout
    assert stream is not None
    while chunk := await stream.read(65536):
        terminal.append(chunk)
