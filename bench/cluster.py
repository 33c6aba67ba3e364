"""The cluster: callback ingestion on PostgreSQL (one process, two behind a proxy) beside SQLite,
charges under contention from two processes, and what a full shard of 2,500 guilds costs.

* **Callback ingestion.** The webhook benchmark's child (`bench.webhook.serve`: the real listener,
  `SongService` and `Repository`, delivery a no-op sink) on a temporary SQLite file, on PostgreSQL,
  and as two such processes on the same PostgreSQL database behind `tests.cluster_helpers`'
  round-robin proxy (the load balancer of deploy/compose.yaml). The two-process figure is also
  taken with the load generator splitting the load between the two listeners itself, which shows
  what the cluster takes in without the Python proxy's own cost on these 2 cores.
* **Charges.** 1,000 concurrent `/generate` charges of one guild from two processes (500 each,
  `Repository.enqueue_task`, group-committed) against an allowance of 600: exactly 600 must be
  charged. Baseline: the same 1,000 as bare asyncpg conditional UPDATEs
  (`UPDATE … SET used = used + 1 WHERE … AND used < 600`), also from two processes.
* **A full shard.** `python -m bot` on one shard holding 2,500 guilds in the fake Discord (the most
  Discord allows): process start to ready, and RSS, against the same bot in one guild; the RSS
  difference per 1,000 guilds is what memory a process needs per 1,000 guilds.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import BOT_READY, REPO, Child, Row, Section, bot_env, mb, ms, percentile, start_fakes, stop_fakes
from bench.webhook import WARMUP, callback_body, fire

CHARGES = 1000
ALLOWANCE = 600


# -- callback ingestion ----------------------------------------------------------------------------


def _child_env(database_url: str | None) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"}
    if database_url:
        env["BENCH_DATABASE_URL"] = database_url
    return env


async def ingest(database_url: str | None, processes: int, count: int, *, via_proxy: bool) -> dict[str, Any]:
    """Callbacks per second into `processes` listeners on one database (the first prepares the tasks)."""
    from tests.cluster_helpers import RoundRobinProxy

    total = count + WARMUP
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        children: list[Child] = []
        proxy = RoundRobinProxy()
        try:
            first = await Child.spawn(
                ["-m", "bench.child", "webhook", "bot", str(total), tmp], _child_env(database_url), cwd=Path(tmp)
            )
            children.append(first)
            _, line = await first.wait_for(r"^LISTENING \d+", within=300)
            bases = [f"http://127.0.0.1:{line.split()[1]}"]
            for _ in range(processes - 1):
                other = await Child.spawn(
                    ["-m", "bench.child", "webhook", "listen", "0", tmp], _child_env(database_url), cwd=Path(tmp)
                )
                children.append(other)
                _, line = await other.wait_for(r"^LISTENING \d+", within=120)
                bases.append(f"http://127.0.0.1:{line.split()[1]}")
            pairs = json.loads((Path(tmp) / "secrets.json").read_text())
            jobs = [(secret, callback_body(api_id)) for secret, api_id in pairs]
            if via_proxy and processes > 1:
                proxy.backends = bases
                await proxy.start()
                targets = [proxy.url]
            else:
                targets = bases
            await _fire_split(targets, jobs[:WARMUP])
            latencies, statuses, wall = await _fire_split(targets, jobs[WARMUP:])
            reports = []
            for child in reversed(children):  # the preparing child last: the others have drained by then
                await child.send("report")
                _, line = await child.wait_for(r"^REPORT ", within=120)
                reports.append(json.loads(line.split(" ", 1)[1]))
        finally:
            await proxy.close()
            for child in children:
                await child.stop()
    return {"rate": count / wall, "latencies": latencies, "statuses": statuses, "report": reports[-1]}


async def _fire_split(bases: list[str], jobs: list[tuple[str, bytes]]) -> tuple[list[float], Counter[int], float]:
    """`bench.webhook.fire` against each base with an equal share of the jobs, all at once."""
    started = time.perf_counter()
    shares = [jobs[n :: len(bases)] for n in range(len(bases))]
    results = await asyncio.gather(*(fire(base, share) for base, share in zip(bases, shares, strict=True)))
    wall = time.perf_counter() - started
    latencies = [value for result in results for value in result[0]]
    statuses: Counter[int] = Counter()
    for result in results:
        statuses.update(result[1])
    return latencies, statuses, wall


# -- charges ---------------------------------------------------------------------------------------


async def charge_child(mode: str, database_url: str, count: int) -> None:
    """Child: on a line on stdin, make `count` concurrent charges of guild 1 (bot: the repository's
    enqueue; bare: asyncpg conditional UPDATEs); print their latencies and how many were taken."""
    import asyncpg

    from bot.storage import Limits, NewTask, Repository, Task

    loop = asyncio.get_running_loop()
    limits = Limits(
        daily_allowance=ALLOWANCE, member_daily_cap=None, max_running=1, max_running_per_member=1, max_queued=CHARGES
    )
    day = time.strftime("%Y-%m-%d", time.gmtime())
    repo: Repository | None = None
    pool: asyncpg.Pool | None = None
    if mode == "bot":
        repo = await Repository.connect(database_url)
    else:
        pool = await asyncpg.create_pool(database_url, min_size=10, max_size=10)
    print("READY", flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)

    async def one(n: int) -> tuple[float, bool]:
        started = time.perf_counter()
        if repo is not None:
            now = time.time()
            outcome = await repo.enqueue_task(
                NewTask(
                    guild_id=1,
                    channel_id=2,
                    requester_id=1000 + n,
                    action="generate",
                    request={"prompt": f"charge {n}"},
                    quota_day=day,
                    cost=1,
                    created_at=now,
                    deadline_at=now + 1200,
                ),
                limits,
            )
            taken = isinstance(outcome, Task)
        else:
            assert pool is not None
            status = await pool.execute(
                "UPDATE bench_quota SET used = used + 1 WHERE guild_id = 1 AND day = $1 AND used < $2", day, ALLOWANCE
            )
            taken = status.endswith(" 1")
        return time.perf_counter() - started, taken

    results = await asyncio.gather(*(one(n) for n in range(count)))
    print("RESULT " + json.dumps([[seconds, taken] for seconds, taken in results]), flush=True)
    if repo is not None:
        await repo.close()
    if pool is not None:
        await pool.close()


async def charges(database_url: str, mode: str) -> tuple[list[float], int]:
    """Latencies of CHARGES charges from two processes at once, and how many were taken in all."""
    children = [
        await Child.spawn(
            ["-m", "bench.child", "charges", mode, database_url, str(CHARGES // 2)], _child_env(None), cwd=REPO
        )
        for _ in range(2)
    ]
    try:
        for child in children:
            await child.wait_for(r"^READY$", within=120)
        for child in children:
            await child.send("go")
        results = []
        for child in children:
            _, line = await child.wait_for(r"^RESULT ", within=300)
            results.extend(json.loads(line.split(" ", 1)[1]))
    finally:
        for child in children:
            await child.stop()
    return [seconds for seconds, _ in results], sum(1 for _, taken in results if taken)


# -- a full shard ----------------------------------------------------------------------------------


async def shard(guilds: int) -> tuple[float, int]:
    """(seconds from process start to ready, RSS a second after) for `python -m bot` in `guilds` guilds."""
    fake, producer, _ = await start_fakes()
    try:
        for n in range(guilds - 1):  # start_fakes made one already
            guild_id = fake.add_guild(f"Guild {n}")
            fake.add_channel(guild_id, "general")
        with tempfile.TemporaryDirectory(prefix="bench-shard-") as tmp:
            child = await Child.spawn(["-m", "bench.child", "bot"], bot_env(fake, producer, Path(tmp)), cwd=Path(tmp))
            try:
                ready_at, _ = await child.wait_for(BOT_READY, within=300)
                await asyncio.sleep(1.0)
                rss = child.status().get("VmRSS", 0)
            finally:
                await child.stop()
    finally:
        await stop_fakes(fake, producer)
    return ready_at - child.started, rss


# -- the section -------------------------------------------------------------------------------------


async def run(quick: bool) -> Section:
    from tests.postgres import PostgresServer

    started = time.monotonic()
    section = Section("Cluster")
    count = 1000 if quick else 3000
    server = await asyncio.to_thread(PostgresServer.start)
    try:
        sqlite = await ingest(None, 1, count, via_proxy=False)
        one = await ingest(await asyncio.to_thread(server.create_database), 1, count, via_proxy=False)
        two = await ingest(await asyncio.to_thread(server.create_database), 2, count, via_proxy=True)
        split = await ingest(await asyncio.to_thread(server.create_database), 2, count, via_proxy=False)
        for name, result in (("SQLite", sqlite), ("PG 1 process", one), ("PG 2 via proxy", two), ("PG 2", split)):
            lost = count + WARMUP - result["report"].get("delivered_with_result", 0)
            section.notes.append(
                f"Cluster ingestion {name}: {result['rate']:.0f}/s, p99 {ms(percentile(result['latencies'], 99))}, "
                f"answers {dict(result['statuses'])}, not stored {lost}."
            )
        section.rows += [
            Row(
                f"PG callbacks/s, 1 process ({count})",
                f"{one['rate']:.0f}/s",
                f"{sqlite['rate']:.0f}/s (SQLite)",
                one["rate"] / sqlite["rate"],
            ),
            Row(
                "PG callbacks/s, 2 processes behind the proxy",
                f"{two['rate']:.0f}/s",
                f"{one['rate']:.0f}/s (1 process)",
                two["rate"] / one["rate"],
                "≥ 1.5× one process",
                two["rate"] >= 1.5 * one["rate"],
            ),
            Row(
                "PG callbacks/s, 2 processes, load split by the client",
                f"{split['rate']:.0f}/s",
                f"{one['rate']:.0f}/s (1 process)",
                split["rate"] / one["rate"],
                "≥ 1.5× one process",
                split["rate"] >= 1.5 * one["rate"],
            ),
        ]

        url = await asyncio.to_thread(server.create_database)
        await _bare_table(url)
        bare, bare_taken = await charges(url, "bare")
        bot, bot_taken = await charges(url, "bot")
        b99, v99 = percentile(bare, 99), percentile(bot, 99)
        section.rows += [
            Row(
                f"PG charges taken of {CHARGES} (allowance {ALLOWANCE}, 2 processes)",
                str(bot_taken),
                str(bare_taken) + " (bare)",
                None,
                f"exactly {ALLOWANCE}",
                bot_taken == ALLOWANCE,
            ),
            Row("PG charge p99 under contention", ms(v99), ms(b99) + " (bare UPDATE)", v99 / b99),
        ]
        section.notes.append(
            f"Charges: p50 {ms(percentile(bot, 50))} vs bare {ms(percentile(bare, 50))}; the repository "
            "group-commits a process's concurrent charges under the guild's advisory lock."
        )
    finally:
        await asyncio.to_thread(server.stop)

    small_ready, small_rss = await shard(1)
    full_ready, full_rss = await shard(2500)
    per_thousand = (full_rss - small_rss) / 2.5
    section.rows += [
        Row(
            "shard of 2,500 guilds: start → ready",
            f"{full_ready:.2f} s",
            f"{small_ready:.2f} s (1 guild)",
            full_ready / small_ready,
        ),
        Row("shard of 2,500 guilds: RSS", mb(full_rss), mb(small_rss) + " (1 guild)", full_rss / small_rss),
        Row("RSS per 1,000 guilds", mb(per_thousand)),
    ]
    section.seconds = time.monotonic() - started
    return section


async def _bare_table(url: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        await connection.execute(
            "CREATE TABLE bench_quota (guild_id BIGINT, day TEXT, used INTEGER NOT NULL, PRIMARY KEY (guild_id, day))"
        )
        day = time.strftime("%Y-%m-%d", time.gmtime())
        await connection.execute("INSERT INTO bench_quota VALUES (1, $1, 0)", day)
    finally:
        await connection.close()


__all__ = ["charge_child", "run", "uuid"]
