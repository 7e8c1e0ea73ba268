from __future__ import annotations

from pathlib import Path

import pytest
from acp import RequestError

from codelab_client.workspace import Workspace
from codelab_common.protocol import JsonRpcErrorCode

DENIED = int(JsonRpcErrorCode.ACCESS_DENIED)


@pytest.fixture
def ws(workspace: Path) -> Workspace:
    return Workspace(workspace)


def test_relative_and_absolute_inside(ws: Workspace, workspace: Path) -> None:
    assert ws.resolve("notes.txt") == workspace.resolve() / "notes.txt"
    assert ws.resolve(str(workspace / "sub" / "x.py")) == workspace.resolve() / "sub" / "x.py"
    assert ws.resolve("sub/../notes.txt") == workspace.resolve() / "notes.txt"


@pytest.mark.parametrize("path", ["../secret.txt", "sub/../../secret.txt", "/etc/passwd", ".."])
def test_escapes_are_denied(ws: Workspace, path: str) -> None:
    with pytest.raises(RequestError) as caught:
        ws.resolve(path)
    assert caught.value.code == DENIED
    assert "outside the workspace" in str(caught.value)


def test_prefix_sibling_is_not_inside(ws: Workspace, workspace: Path) -> None:
    sibling = workspace.parent / (workspace.name + "-evil")
    sibling.mkdir()
    with pytest.raises(RequestError):
        ws.resolve(str(sibling / "x"))


async def test_symlink_escape_read_and_write_leave_target_untouched(
    ws: Workspace, workspace: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    (workspace / "link.txt").symlink_to(secret)
    (workspace / "linkdir").symlink_to(tmp_path)
    for path in ("link.txt", "linkdir/secret.txt"):
        with pytest.raises(RequestError) as caught:
            await ws.read_text(path)
        assert caught.value.code == DENIED
        with pytest.raises(RequestError) as caught:
            await ws.write_text(path, "pwned")
        assert caught.value.code == DENIED
    assert secret.read_text() == "outside secret\n"


async def test_dangling_symlink_pointing_out_is_denied(
    ws: Workspace, workspace: Path, tmp_path: Path
) -> None:
    target = tmp_path / "created-by-agent.txt"
    (workspace / "dangling").symlink_to(target)
    with pytest.raises(RequestError) as caught:
        await ws.write_text("dangling", "x")
    assert caught.value.code == DENIED
    assert not target.exists()


async def test_read_with_line_and_limit(ws: Workspace) -> None:
    assert await ws.read_text("notes.txt") == "one\ntwo\nthree\nfour\n"
    assert await ws.read_text("notes.txt", line=2, limit=2) == "two\nthree\n"
    assert await ws.read_text("notes.txt", line=4) == "four\n"


async def test_read_missing_is_resource_not_found(ws: Workspace) -> None:
    with pytest.raises(RequestError) as caught:
        await ws.read_text("nope.txt")
    assert caught.value.code == int(JsonRpcErrorCode.RESOURCE_NOT_FOUND)


async def test_write_creates_parents_inside(ws: Workspace, workspace: Path) -> None:
    await ws.write_text("a/b/c.txt", "hi")
    assert (workspace / "a" / "b" / "c.txt").read_text() == "hi"
