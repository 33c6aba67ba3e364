"""A shard's IDENTIFY survives the database going away (issue 18, defect 4).

`before_identify_hook` takes a cluster-wide slot in the database; discord.py treats any error
raised there that is not a network error as fatal and ends the process. asyncpg's errors for a
server that is stopping or gone (`CannotConnectNowError`, `ConnectionDoesNotExistError`, …) are
not `OSError`s, so the gate must ride them out.
"""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from bot.cluster.identify import IdentifyGate
from bot.storage import Repository
from tests.postgres import PostgresServer


async def one() -> int:
    return 1


async def test_identify_waits_out_a_postgres_restart(
    private_postgres: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = private_postgres.create_database()
    repo = await Repository.connect(url)
    try:
        gate = IdentifyGate(lambda name, seconds: repo.try_lease(name, "process-a", seconds, time.time()), one)
        await gate.wait(0)  # the first shard identifies while the database is up

        private_postgres.pg_ctl("stop", "-m", "fast")
        try:
            second = asyncio.create_task(gate.wait(1))
            await asyncio.sleep(6)  # past the first slot's 5 s window: only the outage stops shard 1 now
            assert not second.done(), "shard 1 identified without a slot, or gave up"
        finally:
            await asyncio.to_thread(private_postgres.pg_ctl, "start")
        with caplog.at_level(logging.INFO, logger="bot.cluster.identify"):
            await asyncio.wait_for(second, 30)
        # One warning for the whole outage, not one per attempt; no traceback from the bot. (asyncpg's
        # own pool logs tracebacks while it refills: the log handler strips them, see tests/core/test_logs.py.)
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "identify slot" in r.getMessage()]
        assert len(warnings) <= 1
        assert [r.getMessage() for r in caplog.records if r.exc_info and r.name.startswith("bot")] == []
        assert await repo.try_lease("identify:0", "process-b", 5, time.time()) is False  # shard 1's slot is held
    finally:
        await repo.close()
