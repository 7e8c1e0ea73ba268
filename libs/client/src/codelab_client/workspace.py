"""The sandbox every client capability goes through: nothing outside the workspace dir."""

from __future__ import annotations

import asyncio
from pathlib import Path

from acp import RequestError

from codelab_common.protocol import JsonRpcErrorCode


def access_denied(path: str, root: Path) -> RequestError:
    return RequestError(
        int(JsonRpcErrorCode.ACCESS_DENIED),
        f"access denied: {path!r} is outside the workspace {str(root)!r}",
        {"path": path, "workspace": str(root)},
    )


class Workspace:
    """A directory the agent may read, write and run commands in, and nothing else.

    Paths are resolved (symlinks included, even dangling ones) before the check, so
    ``../``, absolute paths and symlinks pointing out are all refused alike.
    """

    def __init__(self, root: Path) -> None:
        self.root = root.expanduser().resolve(strict=True)
        if not self.root.is_dir():
            raise NotADirectoryError(str(self.root))

    def resolve(self, path: str) -> Path:
        """The real path of ``path`` (absolute, or relative to the root), if inside the root."""
        candidate = Path(path).expanduser()
        if not candidate.is_absolute():
            candidate = self.root / candidate
        resolved = candidate.resolve(strict=False)
        if resolved != self.root and not resolved.is_relative_to(self.root):
            raise access_denied(path, self.root)
        return resolved

    def resolve_dir(self, path: str | None) -> Path:
        """A working directory inside the root (the root itself when ``path`` is None)."""
        resolved = self.root if path is None else self.resolve(path)
        if not resolved.is_dir():
            raise RequestError.invalid_params({"cwd": path, "reason": "not a directory"})
        return resolved

    async def read_text(self, path: str, line: int | None = None, limit: int | None = None) -> str:
        """File text; ``line`` is 1-based, ``limit`` caps the number of lines returned."""
        target = self.resolve(path)
        try:
            text = await asyncio.to_thread(target.read_text, encoding="utf-8", errors="replace")
        except FileNotFoundError as exc:
            raise RequestError.resource_not_found(path) from exc
        except IsADirectoryError as exc:
            raise RequestError.invalid_params({"path": path, "reason": "is a directory"}) from exc
        if line is None and limit is None:
            return text
        lines = text.splitlines(keepends=True)
        start = max((line or 1) - 1, 0)
        end = None if limit is None else start + max(limit, 0)
        return "".join(lines[start:end])

    async def write_text(self, path: str, content: str) -> None:
        """Write ``content``, creating missing parent directories (all inside the root)."""
        target = self.resolve(path)
        if target.is_dir():
            raise RequestError.invalid_params({"path": path, "reason": "is a directory"})
        await asyncio.to_thread(_write, target, content)


def _write(target: Path, content: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(content, encoding="utf-8")
