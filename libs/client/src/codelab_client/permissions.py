"""``session/request_permission``: ask the developer, or decide by policy when we cannot."""

from __future__ import annotations

import asyncio
from typing import Any, TextIO

from acp.schema import (
    AllowedOutcome,
    DeniedOutcome,
    PermissionOption,
    RequestPermissionResponse,
    ToolCallUpdate,
)

from codelab_client.console import read_line
from codelab_client.render import Renderer

_ALLOW = ("allow_once", "allow_always")
_REJECT = ("reject_once", "reject_always")


def pick(options: list[PermissionOption], kinds: tuple[str, ...]) -> PermissionOption | None:
    """The first option of the first kind in ``kinds`` that the agent offered."""
    for kind in kinds:
        for option in options:
            if option.kind == kind:
                return option
    return None


def selected(option: PermissionOption | None) -> RequestPermissionResponse:
    if option is None:
        return RequestPermissionResponse(outcome=DeniedOutcome(outcome="cancelled"))
    return RequestPermissionResponse(
        outcome=AllowedOutcome(outcome="selected", option_id=option.option_id)
    )


class PermissionAsker:
    """Answers permission requests (``--yes`` allows once, no TTY rejects, else y/n/a)
    and follow-up questions (read from the TTY; never answered by ``--yes``)."""

    def __init__(
        self, renderer: Renderer, stdin: TextIO, *, interactive: bool, assume_yes: bool
    ) -> None:
        self.renderer = renderer
        self.stdin = stdin
        self.interactive = interactive
        self.assume_yes = assume_yes
        self.cancelled = asyncio.Event()
        self._lock = asyncio.Lock()

    async def ask(
        self, tool_call: ToolCallUpdate, options: list[PermissionOption]
    ) -> RequestPermissionResponse:
        if self.cancelled.is_set():
            return selected(None)
        async with self._lock:  # one question on the terminal at a time
            self.renderer.permission_request(tool_call)
            if self.assume_yes:
                self.renderer.info("  allowed (--yes)")
                return selected(pick(options, _ALLOW))
            if not self.interactive:
                self.renderer.info("  rejected: no terminal to ask on (pass --yes to allow)")
                return selected(pick(options, _REJECT))
            return await self._ask_terminal(options)

    async def ask_followup(self, question: str, suggestions: list[str]) -> dict[str, Any]:
        """``_codelab/ask_followup``: the user's text, or ``{}`` ("no answer") when none.

        ``--yes`` only allows permissions; it never invents an answer to a question.
        A number picks that suggestion.
        """
        if self.cancelled.is_set():
            return {}
        async with self._lock:
            self.renderer.question(question, suggestions)
            if not self.interactive:
                self.renderer.info("  not answered: no terminal to ask on")
                return {}
            self.renderer.info("  answer: ")
            line = await self._read_or_cancel()
            answer = (line or "").strip()
            if not answer:
                # EOF, a cancelled turn or an empty line: the runtime tells the model
                # "the user gave no answer", which beats a JSON-RPC error failing the tool.
                return {}
            if answer.isdigit() and 1 <= int(answer) <= len(suggestions):
                answer = suggestions[int(answer) - 1]
            return {"answer": answer}

    async def _read_or_cancel(self) -> str | None:
        """One line from the terminal, or ``None`` if the turn is cancelled first."""
        reader = asyncio.ensure_future(read_line(self.stdin))
        cancel = asyncio.ensure_future(self.cancelled.wait())
        done, _ = await asyncio.wait({reader, cancel}, return_when=asyncio.FIRST_COMPLETED)
        for task in (reader, cancel):
            task.cancel()
        return reader.result() if reader in done else None

    async def _ask_terminal(self, options: list[PermissionOption]) -> RequestPermissionResponse:
        always = pick(options, ("allow_always",))
        choices = "[y]es / [n]o" + (" / [a]lways" if always else "")
        self.renderer.info(f"  allow? {choices}: ")
        line = await self._read_or_cancel()
        if line is None:
            return selected(None)  # the turn was cancelled while we were asking
        answer = line.strip().lower()
        if answer in ("y", "yes"):
            return selected(pick(options, _ALLOW))
        if answer in ("a", "always") and always is not None:
            return selected(always)
        self.renderer.info("  rejected")
        return selected(pick(options, _REJECT))
