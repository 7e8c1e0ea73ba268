"""The user's terminal: where prompts are written and answers are read."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import TextIO


@dataclass
class Terminal:
    """The user's terminal as the login prompts see it."""

    stdin: TextIO
    err: TextIO
    interactive: bool


async def read_line(stream: TextIO) -> str:
    """``stream.readline()`` without blocking the loop.

    A daemon thread rather than ``asyncio.to_thread``: a read abandoned on Ctrl-C must
    not keep the process alive at exit waiting for the executor.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[str] = loop.create_future()

    def run() -> None:
        try:
            line = stream.readline()
        except (OSError, ValueError):
            line = ""
        loop.call_soon_threadsafe(_resolve, future, line)

    threading.Thread(target=run, name="codelab-stdin", daemon=True).start()
    return await future


def _resolve(future: asyncio.Future[str], line: str) -> None:
    if not future.done():
        future.set_result(line)
