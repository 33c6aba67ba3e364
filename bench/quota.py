"""Quota under contention: a thousand members pressing /generate in one server at the same moment.

The daily quota is money: it must never be overshot, and charging must not become the slow part of
a command. `CONCURRENT` charges through the real `SongService` (`enqueue`; `reserve` before the
per-guild queue), Repository on a temporary SQLite file, start together against one guild whose
daily limit is `LIMIT` (the concurrency limits are lifted, so only the quota refuses); exactly
`LIMIT` must succeed and the stored count must say so. Latency is per call, from the call to its
return (queueing included). Baseline: the smallest correct thing SQLite can do per charge, one
conditional `UPDATE ... WHERE used + 1 <= limit` in autocommit on a bare aiosqlite connection, also
`CONCURRENT` at once, in the same process.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiosqlite

from bench.common import Row, Section, charge_task, ms, percentile

CONCURRENT = 1000
LIMIT = 600
GUILD = 4242


async def _timed(call: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    try:
        result = await call
    except Exception as exc:
        result = exc
    return time.perf_counter() - started, result


async def measure_service(folder: Path) -> dict[str, Any]:
    from bench.webhook import NoopDelivery
    from bot.core.errors import QuotaExceeded
    from bot.core.settings import settings_from_mapping
    from bot.producer.client import ProducerClient
    from bot.songs.quota import utc_day
    from bot.songs.requests import SongRequest
    from bot.songs.service import SongService
    from bot.storage import open_repository

    settings = settings_from_mapping(
        {
            "DISCORD_TOKEN": "unused",
            "PRODUCER_API_TOKEN": "unused",
            "DATABASE_PATH": str(folder / "bot.db"),
            "GUILD_DAILY_QUOTA": str(LIMIT),
            "MAX_RUNNING_PER_GUILD": str(CONCURRENT),  # only the daily quota may refuse here
            "MAX_QUEUED_PER_GUILD": str(CONCURRENT),
        }
    )
    repo = await open_repository(settings)
    try:
        api = ProducerClient(None, "http://127.0.0.1:9", "unused")  # type: ignore[arg-type]  # never called
        service = SongService(settings, repo, api, NoopDelivery(), clock=time.time)  # type: ignore[arg-type]

        def request(n: int, guild: int = GUILD) -> SongRequest:
            body = {"action": "generate", "prompt": f"song {n}", "model": "FUZZ-2.0 Pro"}
            return SongRequest(action="generate", body=body, guild_id=guild, channel_id=1, requester_id=n)

        for n in range(20):  # warm up on another guild
            await charge_task(service, request(n, guild=1))
        results = await asyncio.gather(*(_timed(charge_task(service, request(n))) for n in range(CONCURRENT)))
        latencies = [seconds for seconds, _ in results]
        granted = sum(1 for _, outcome in results if not isinstance(outcome, Exception))
        refused = sum(1 for _, outcome in results if isinstance(outcome, QuotaExceeded))
        stored = await repo.quota_used(GUILD, utc_day(time.time()))
        states = ("queued", "reserved", "pending")
        tasks = len([t for t in await repo.tasks_in_states(*states) if t.guild_id == GUILD])
    finally:
        await repo.close()
    return {"latencies": latencies, "granted": granted, "refused": refused, "stored": stored, "tasks": tasks}


async def measure_baseline(path: Path) -> dict[str, Any]:
    db = await aiosqlite.connect(path, isolation_level=None)
    try:
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA synchronous=NORMAL")
        await db.execute("CREATE TABLE quota (guild_id INTEGER PRIMARY KEY, used INTEGER NOT NULL)")
        await db.execute("INSERT INTO quota VALUES (?, 0)", (GUILD,))

        async def reserve() -> bool:
            cursor = await db.execute(
                "UPDATE quota SET used = used + 1 WHERE guild_id = ? AND used + 1 <= ?", (GUILD, LIMIT)
            )
            return cursor.rowcount == 1

        for _ in range(20):
            await db.execute("SELECT used FROM quota WHERE guild_id = ?", (GUILD,))
        results = await asyncio.gather(*(_timed(reserve()) for _ in range(CONCURRENT)))
        async with db.execute("SELECT used FROM quota WHERE guild_id = ?", (GUILD,)) as cursor:
            row = await cursor.fetchone()
    finally:
        await db.close()
    return {
        "latencies": [seconds for seconds, _ in results],
        "granted": sum(1 for _, ok in results if ok is True),
        "stored": row[0] if row else -1,
    }


async def run(quick: bool) -> Section:
    started = time.monotonic()
    rounds = 3
    bases, bots = [], []
    with tempfile.TemporaryDirectory(prefix="bench-quota-") as tmp:
        for n in range(rounds):  # alternate and keep the median round: one burst lasts a fraction of a second
            gc.collect()
            bases.append(await measure_baseline(Path(tmp) / f"base-{n}.db"))
            gc.collect()
            bots.append(await measure_service(Path(tmp) / f"bot-{n}"))
    b99s = [percentile(r["latencies"], 99) for r in bases]
    v99s = [percentile(r["latencies"], 99) for r in bots]
    b99, v99 = statistics.median(b99s), statistics.median(v99s)
    bot = bots[v99s.index(sorted(v99s)[len(v99s) // 2])]
    base = bases[b99s.index(sorted(b99s)[len(b99s) // 2])]
    exact = all(r["granted"] == LIMIT == r["stored"] == r["tasks"] and r["refused"] == CONCURRENT - LIMIT for r in bots)
    section = Section("Quota under contention")
    section.rows = [
        Row(
            f"quota: granted of {CONCURRENT} racing for {LIMIT}",
            f"{bot['granted']} (stored {bot['stored']})",
            f"{base['granted']} (stored {base['stored']})",
            None,
            f"exactly {LIMIT}",
            exact,
        ),
        Row(
            f"quota: charge p99 ({CONCURRENT} at once)",
            ms(v99),
            ms(b99) + " (bare UPDATE)",
            v99 / b99,
            "≤ 20 ms and ≤ 1.2× bare",
            v99 <= 0.020 and v99 <= 1.2 * b99,
        ),
    ]
    section.notes.append(
        f"Quota: {CONCURRENT} concurrent charges (SongService) on one guild, limit {LIMIT}, {rounds} "
        f"alternating rounds (median shown; p99 per round: bot {', '.join(ms(v) for v in v99s)}; baseline "
        f"{', '.join(ms(v) for v in b99s)}). Median round: granted {bot['granted']}, refused {bot['refused']}, "
        f"task rows {bot['tasks']}, p50 {ms(percentile(bot['latencies'], 50))} (baseline "
        f"{ms(percentile(base['latencies'], 50))})."
    )
    section.seconds = time.monotonic() - started
    return section
