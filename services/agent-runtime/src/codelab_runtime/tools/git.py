"""Git tools: fixed git commands run in a client terminal, parsed into structured results.

The model gets JSON rather than porcelain text: it reads fields reliably and cannot
mistake a file name for a status code. Commands are argument lists, never a shell line.
"""

from __future__ import annotations

import json
import re
from typing import Any

from codelab_runtime.tools.client_ops import ClientOps

_FIELD, _RECORD = "\x1f", "\x1e"
_COMMIT_LINE = re.compile(r"^\[(?P<branch>\S+)(?: \(root-commit\))? (?P<sha>[0-9a-f]+)\]")


class GitError(Exception):
    """git exited with an error; the message is its output."""


def parse_status(output: str) -> dict[str, Any]:
    """``git status --porcelain=v1 --branch`` -> branch, upstream, ahead/behind, files."""
    result: dict[str, Any] = {"branch": None, "upstream": None, "files": []}
    for line in output.splitlines():
        if line.startswith("## "):
            head, _, track = line[3:].partition(" [")
            branch, _, upstream = head.partition("...")
            result["branch"] = branch.removeprefix("No commits yet on ")
            result["upstream"] = upstream or None
            for part in track.rstrip("]").split(", "):
                key, _, count = part.partition(" ")
                if key in ("ahead", "behind") and count.isdigit():
                    result[key] = int(count)
        elif len(line) > 3:
            result["files"].append({"path": line[3:], "index": line[0], "worktree": line[1]})
    result["clean"] = not result["files"]
    return result


def parse_numstat(output: str) -> list[dict[str, Any]]:
    files = []
    for line in output.splitlines():
        parts = line.split("\t")
        if len(parts) == 3:
            added, removed, path = parts
            files.append(
                {
                    "path": path,
                    "added": int(added) if added.isdigit() else None,
                    "removed": int(removed) if removed.isdigit() else None,
                }
            )
    return files


def parse_log(output: str) -> list[dict[str, str]]:
    commits = []
    for record in output.split(_RECORD):
        fields = record.strip("\n").split(_FIELD)
        if len(fields) == 4:
            sha, author, date, subject = fields
            commits.append({"sha": sha, "author": author, "date": date, "subject": subject})
    return commits


def parse_branches(output: str) -> dict[str, Any]:
    branches, current = [], None
    for line in output.splitlines():
        name, _, head = line.partition("\t")
        if name:
            branches.append(name)
            if head.strip() == "*":
                current = name
    return {"current": current, "branches": branches}


class GitTools:
    """The git tools of one session, executed by the client."""

    def __init__(self, ops: ClientOps) -> None:
        self._ops = ops

    async def _git(self, *args: str) -> str:
        code, output = await self._ops.terminal("git", list(args))
        if code != 0:
            raise GitError(f"git {args[0]} exited with {code}:\n{output}")
        return output

    async def status(self) -> str:
        return _json(parse_status(await self._git("status", "--porcelain=v1", "--branch")))

    async def diff(self, path: str | None, staged: bool) -> str:
        base = ["diff", *(["--cached"] if staged else [])]
        scope = ["--", self._ops.resolve(path)] if path else []
        files = parse_numstat(await self._git(*base, "--numstat", *scope))
        patch = await self._git(*base, *scope)
        return _json({"files": files, "diff": patch})

    async def log(self, max_count: int, path: str | None) -> str:
        fmt = f"--format=%H{_FIELD}%an{_FIELD}%aI{_FIELD}%s{_RECORD}"
        scope = ["--", self._ops.resolve(path)] if path else []
        return _json({"commits": parse_log(await self._git("log", f"-n{max_count}", fmt, *scope))})

    async def branch(self) -> str:
        output = await self._git("branch", "--format=%(refname:short)\t%(HEAD)")
        return _json(parse_branches(output))

    async def commit(self, message: str, paths: list[str]) -> str:
        if paths:
            await self._git("add", "--", *(self._ops.resolve(p) for p in paths))
        output = await self._git("commit", "-m", message)
        match = _COMMIT_LINE.search(output)
        return _json(
            {
                "commit": match["sha"] if match else None,
                "branch": match["branch"] if match else None,
                "summary": output.strip().splitlines()[-1] if output.strip() else "",
            }
        )


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
