"""PostgreSQL goes away under songs in flight: restarted, stopped for a few seconds, or the bots'
connections killed in the middle of their statements. Every song is posted once, status lines end
true, `/healthz` says 503 while the database is down and 200 once it is back, and no process has
to be restarted for any of it."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from tests.chaos.figures import require, require_exactly_once
from tests.chaos.kit import Chaos, Request, wait_until


async def songs_in_flight(
    chaos: Chaos, label: str, guilds: int = 1
) -> tuple[list[Request], list[Request], list[asyncio.Event]]:
    """Two songs waiting at the API; per guild one song whose delivery is mid-way (its message
    POST held at Discord) and, on the first guild, a second being delivered behind it."""
    chosen = chaos.guilds[:guilds]
    waiting = [await chaos.generate(chosen[n % guilds], f"{label}: waiting {n}", outcome="never") for n in range(2)]
    for request in waiting:
        await chaos.wait_status(request, "Generating")
    gates = [chaos.hold_posts(guild) for guild in chosen]
    posting = [await chaos.generate(guild, f"{label}: posting {n}") for n, guild in enumerate(chosen)]
    posting.append(await chaos.generate(chosen[0], f"{label}: posting behind"))
    await chaos.discord.wait_for(lambda: all(chaos.posts_to(guild.channel) >= 1 for guild in chosen), timeout=20)
    delivering = await chaos.wait_sql("SELECT COUNT(*) FROM tasks WHERE state = 'delivering'", len(posting))
    require(delivering, "the songs never got to 'delivering'")
    return waiting, posting, gates


@pytest.mark.parametrize("fault", ["restart", "outage"])
async def test_postgres_restarted_with_songs_in_flight(chaos: Chaos, fault: str) -> None:
    """`restart`: `pg_ctl restart -m fast` (every connection cut, the server back within a second).
    `outage`: `pg_ctl stop -m fast`, a few seconds down (the held messages reach Discord then, so
    recording them fails and so does handing them back; a callback arrives and is refused), then
    `start`. Issue 18, defect 1: those deliveries stayed `delivering` under the live process's
    renewed lease, their status lines at "Generating…" for good."""
    bot = chaos.process()
    await bot.start()
    pid = bot.pid
    guild = chaos.guilds[0]
    waiting, posting, (gate,) = await songs_in_flight(chaos, fault)
    require(await chaos.healthz(bot) == 200, "/healthz not 200 before the fault")

    down = None
    if fault == "restart":
        await chaos.pg_ctl("restart", "-m", "fast")
        gate.set()
        await chaos.producer.complete(chaos.api_task(waiting[0]).task_id)
    else:
        await chaos.pg_ctl("stop", "-m", "fast")
        try:
            down = await chaos.wait_health(bot, 503, timeout=10)
            gate.set()  # both messages reach Discord; the database cannot hear of them
            await chaos.discord.wait_for(lambda: len(chaos.song_messages(guild.channel)) == len(posting), timeout=20)
            await chaos.producer.complete(chaos.api_task(waiting[0]).task_id)  # its callback meets the outage
            chaos.note(callback_in_outage=chaos.producer.callbacks_sent[-1][1])
            # "Not now", not "broken": nothing was stored, and the poller fetches the result later.
            assert chaos.producer.callbacks_sent[-1][1] == 503
            await asyncio.sleep(LEASE_PAST)  # every loop meets the outage, past a lease's length
        finally:
            await chaos.pg_ctl("start")
    chaos.fault_over()
    back = await chaos.wait_health(bot, 200, timeout=20)
    chaos.note(**({"healthz_down": down} if fault == "outage" else {}), healthz_back=back)
    await chaos.producer.complete(chaos.api_task(waiting[1]).task_id)

    await chaos.settle(timeout=20)
    await chaos.within(lambda: any(len(chaos.messages_for(r)) > 1 for r in chaos.requests), 2)
    figures = await chaos.tally(f"postgres {fault} (pg_ctl), 1 process")
    require(down or fault == "restart", "/healthz did not answer 503 while the database was down")
    require(back, "/healthz did not answer 200 again once the database was back")
    require(bot.running and bot.pid == pid, "the process had to restart")
    require_exactly_once(figures)
    assert figures.bad_status == 0, f"status lines not true at the end: {figures}\n{statuses(chaos)}"
    assert await chaos.sql("SELECT COUNT(*) FROM tasks WHERE state <> 'delivered'") == 0


LEASE_PAST = 4.0
"""Seconds an outage lasts: longer than LEASE_SECONDS, so every lease runs out during it."""


def statuses(chaos: Chaos) -> str:
    return "\n".join(
        f"{r.prompt}: {r.interaction.original.content if r.interaction.original else None}" for r in chaos.requests
    )


async def test_connections_killed_mid_statement_lose_no_song(chaos: Chaos) -> None:
    """Two processes; their statements are made to wait on a lock (the messages of three songs have
    just reached Discord, a callback is being stored, the heartbeats and sweeps run), then every
    connection of theirs is killed with `pg_terminate_backend`, three times half a second apart
    (a failover proxy cutting connections as they come back), so what they do about the first
    failures (hand a delivery back, retry) is killed too. The server stays up throughout.
    Issue 18, defect 1 (the deliveries stranded as in the outage) and defect 4 (the shards,
    cut off from the gateway at the same time, wait for their IDENTIFY slot in the locked
    database: that once ended the process)."""
    cluster = chaos.cluster()
    await cluster.start()
    pids = [bot.pid for bot in cluster.processes]
    waiting, _, gates = await songs_in_flight(chaos, "terminated", guilds=2)

    locker = await asyncpg.connect(chaos.database_url, server_settings={"application_name": LOCKER})
    killed = 0
    identified = chaos.discord.identify_count
    try:
        transaction = locker.transaction()
        await transaction.start()
        await locker.execute("LOCK TABLE songs, tasks, leases IN ACCESS EXCLUSIVE MODE")
        # Both shards lose the gateway too: their new IDENTIFY waits for a slot in the locked
        # database and has its connection killed (defect 4: that once ended the process).
        await chaos.discord.drop_connections()
        for gate in gates:
            gate.set()  # the messages are posted; recording them waits on the lock
        callback = asyncio.create_task(chaos.producer.complete(chaos.api_task(waiting[0]).task_id))

        async def stuck() -> bool:  # the deliveries and the callback all wait on the lock
            return await waiting_on_lock(chaos) >= 3

        assert await wait_until(stuck, 15), "the bots' statements never reached the lock"
        for _ in range(KILL_ROUNDS):
            killed += await terminate_bots(chaos)
            await asyncio.sleep(0.5)
        await transaction.rollback()
    finally:
        await locker.close()
    chaos.fault_over()
    await callback
    chaos.note(connections_killed=killed, callback_status=chaos.producer.callbacks_sent[-1][1])
    await chaos.producer.complete(chaos.api_task(waiting[1]).task_id)

    reconnected = await chaos.within(lambda: len(chaos.discord.ready_shards()) >= 2, 20)
    await chaos.settle(timeout=20)
    await chaos.within(lambda: any(len(chaos.messages_for(r)) > 1 for r in chaos.requests), 2)
    chaos.note(identifies=chaos.discord.identify_count - identified)
    figures = await chaos.tally("connections killed x3 (pg_terminate_backend), 2 processes")
    healthy = [await chaos.wait_health(bot, 200, timeout=10) for bot in cluster.processes]
    require([bot.running and bot.pid for bot in cluster.processes] == pids, "a process ended (defect 4?)")
    require(reconnected and chaos.discord.identify_count >= identified + 2, "the shards did not identify again")
    require(healthy == [True, True], f"/healthz after the fault: {healthy}")
    require_exactly_once(figures)
    assert figures.bad_status == 0, f"status lines not true at the end: {figures}\n{statuses(chaos)}"
    assert await chaos.sql("SELECT COUNT(*) FROM tasks WHERE state <> 'delivered'") == 0


KILL_ROUNDS = 3


LOCKER = "chaos-locker"
"""application_name of the test's own connection, which holds the lock and is not killed."""


async def waiting_on_lock(chaos: Chaos) -> int:
    """How many of the bots' backends are waiting for a lock right now."""
    conn = await asyncpg.connect(chaos.server.admin_url)
    try:
        return int(
            await conn.fetchval(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock' "
                "AND application_name <> $2",
                chaos.database_url.rsplit("/", 1)[1],
                LOCKER,
            )
        )
    finally:
        await conn.close()


async def terminate_bots(chaos: Chaos) -> int:
    """`pg_terminate_backend` on every connection to the test's database except the locker's."""
    conn = await asyncpg.connect(chaos.server.admin_url)
    try:
        rows = await conn.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 "
            "AND application_name <> $2 AND pid <> pg_backend_pid()",
            chaos.database_url.rsplit("/", 1)[1],
            LOCKER,
        )
    finally:
        await conn.close()
    return len(rows)
