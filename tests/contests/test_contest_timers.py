"""The contest timers' loop rides out a database outage, and the invite link asks for events."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from pathlib import Path
from typing import Any

import pytest

from bot.app.bot import INVITE_PERMISSIONS
from bot.cluster.leases import Leases
from bot.contests.service import ContestService
from bot.storage.models import DatabaseUnavailable


class _Unreachable:
    """A repository whose database is away for the first look, then back with nothing due."""

    def __init__(self) -> None:
        self.looks = 0
        self.back = asyncio.Event()

    async def claim_due_contests(self, owner: str, ttl: float, now: float) -> list[Any]:
        self.looks += 1
        if self.looks == 1:
            raise DatabaseUnavailable("connection refused")
        self.back.set()
        return []

    async def release_contest_claims(self) -> int:
        return 0

    async def next_contest_due(self) -> float | None:
        return None


async def test_the_timers_wait_out_a_database_outage(caplog: pytest.LogCaptureFixture) -> None:
    """One warning, a pause, and the loop looks again once the database answers (no traceback)."""
    repo = _Unreachable()
    service = ContestService(
        repo,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        songs=None,  # type: ignore[arg-type]
        delivery=None,  # type: ignore[arg-type]
        visibility=None,  # type: ignore[arg-type]
        follow_ups=None,  # type: ignore[arg-type]
        leases=Leases("me"),
        clock=time.time,
    )
    with caplog.at_level(logging.INFO):
        service.start()
        try:
            await asyncio.wait_for(repo.back.wait(), timeout=10)
        finally:
            await service.stop()
    assert repo.looks >= 2
    assert [r.getMessage() for r in caplog.records if "Contest timers" in r.getMessage()] == [
        "Contest timers waits for the database (connection refused); retrying",
        "Contest timers reached the database again",
    ]
    assert not any(r.exc_info for r in caplog.records)


def test_the_invite_link_asks_for_create_and_manage_events() -> None:
    """Scheduled events need both; the README's link carries the same permissions as the bot's log."""
    assert INVITE_PERMISSIONS.create_events and INVITE_PERMISSIONS.manage_events
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    (number,) = set(re.findall(r"permissions=(\d+)", readme))
    assert int(number) == INVITE_PERMISSIONS.value
