"""Concurrent refreshes with one token: exactly one wins, and the family dies."""

from __future__ import annotations

import asyncio
from typing import Any

RUNTIME = ("codelab-runtime", "runtime-secret-value")


async def test_concurrent_reuse_lets_one_win_and_revokes_the_family(auth: Any) -> None:
    tokens = await auth.login("alice", "alice-password")
    form = {
        "grant_type": "refresh_token",
        "client_id": "codelab-cli",
        "refresh_token": tokens["refresh_token"],
    }
    first, second = await asyncio.gather(auth.token(**form), auth.token(**form))
    statuses = sorted([first.status_code, second.status_code])
    assert statuses == [200, 400]
    winner = first if first.status_code == 200 else second
    # The loser's attempt counts as reuse: even the winner's new token is dead.
    after = await auth.token(
        grant_type="refresh_token",
        client_id="codelab-cli",
        refresh_token=winner.json()["refresh_token"],
    )
    assert after.status_code == 400
    assert after.json()["error"] == "invalid_grant"
