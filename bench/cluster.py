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
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import BOT_READY, REPO, Child, Row, Section, bot_env, mb, ms, percentile, start_fakes, stop_fakes
from bench.rest import rest_per_song
from bench.webhook import WARMUP, callback_body, fire

CHARGES = 1000
ALLOWANCE = 600
ROUNDS_QUICK = 3
ROUNDS_FULL = 5


# -- callback ingestion ----------------------------------------------------------------------------


def _child_env(database_url: str | None, guilds: int = 50) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(REPO),
        "PYTHONDONTWRITEBYTECODE": "1",
        "BENCH_GUILDS": str(guilds),
    }
    if database_url:
        env["BENCH_DATABASE_URL"] = database_url
    if os.environ.get("BENCH_PROFILE"):
        env["BENCH_PROFILE"] = os.environ["BENCH_PROFILE"]
    return env


async def ingest(
    database_url: str | None, processes: int, count: int, *, via_proxy: bool, guilds: int = 50, sample: bool = False
) -> dict[str, Any]:
    """Callbacks per second into `processes` listeners on one database (the first prepares the
    tasks, spread over `guilds` guilds). With `sample`, PostgreSQL's wait events and lock waits are
    sampled while the callbacks arrive. Each process reports its statements, transactions and CPU
    seconds for the measured callbacks (after the warm-up)."""
    from tests.cluster_helpers import RoundRobinProxy

    total = count + WARMUP
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        children: list[Child] = []
        proxy = RoundRobinProxy()
        sampler = PgSampler(database_url) if sample and database_url else None
        try:
            first = await Child.spawn(
                ["-m", "bench.child", "webhook", "bot", str(total), tmp],
                _child_env(database_url, guilds),
                cwd=Path(tmp),
            )
            children.append(first)
            _, line = await first.wait_for(r"^LISTENING \d+", within=300)
            bases = [f"http://127.0.0.1:{line.split()[1]}"]
            for _ in range(processes - 1):
                other = await Child.spawn(
                    ["-m", "bench.child", "webhook", "listen", "0", tmp],
                    _child_env(database_url, guilds),
                    cwd=Path(tmp),
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
            for child in children:
                await child.send("reset")
                await child.wait_for(r"^RESET$", within=120)
            if sampler is not None:
                await sampler.start()
            latencies, statuses, wall = await _fire_split(targets, jobs[WARMUP:])
            if sampler is not None:
                await sampler.stop()
            reports = []
            for child in reversed(children):  # the preparing child last: the others have drained by then
                await child.send("report")
                _, line = await child.wait_for(r"^REPORT ", within=120)
                reports.append(json.loads(line.split(" ", 1)[1]))
        finally:
            if sampler is not None:
                await sampler.stop()
            await proxy.close()
            for child in children:
                await child.stop()
    reports.reverse()  # in process order
    return {
        "rate": count / wall,
        "latencies": latencies,
        "statuses": statuses,
        "report": reports[0],
        "processes": reports,
        "waits": sampler.summary() if sampler is not None else "",
    }


def per_callback(result: dict[str, Any]) -> list[tuple[float, float, float]]:
    """(statements, transactions, CPU seconds × 1,000) per callback, for each process of a run."""
    figures = []
    for report in result["processes"]:
        taken = max(1, sum(report.get("callbacks", {}).values()))
        figures.append(
            (
                report.get("statements", 0) / taken,
                report.get("transactions", 0) / taken,
                1000 * report["cpu_seconds"] / taken,
            )
        )
    return figures


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


class PgSampler:
    """Samples, every 10 ms, what the database's client backends are doing (`pg_stat_activity`:
    active ones by wait event, and those idle inside a transaction) and which lock requests wait
    (`pg_locks` not granted), on a connection of its own."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._task: asyncio.Task[None] | None = None
        self.samples = 0
        self.activity: Counter[str] = Counter()
        self.lock_waits: Counter[str] = Counter()

    async def start(self) -> None:
        import asyncpg

        connection = await asyncpg.connect(self._url)
        self._task = asyncio.create_task(self._run(connection))

    async def _run(self, connection: Any) -> None:
        try:
            while True:
                rows = await connection.fetch(
                    "SELECT state, wait_event_type, wait_event FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
                )
                for state, kind, event in rows:
                    if state == "active":
                        self.activity[f"active: {kind or 'CPU'}/{event or 'running'}"] += 1
                    elif state and state.startswith("idle in transaction"):
                        self.activity["idle in transaction"] += 1
                for locktype, mode in await connection.fetch("SELECT locktype, mode FROM pg_locks WHERE NOT granted"):
                    self.lock_waits[f"{locktype} {mode}"] += 1
                self.samples += 1
                await asyncio.sleep(0.01)
        finally:
            await connection.close()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def summary(self) -> str:
        if not self.samples:
            return "no samples"
        busy = ", ".join(f"{name} {count / self.samples:.2f}" for name, count in self.activity.most_common(6))
        waits = ", ".join(f"{name} {count / self.samples:.2f}" for name, count in self.lock_waits.most_common(4))
        return (
            f"{self.samples} samples; backends per sample: {busy or 'none busy'}; "
            f"lock requests waiting per sample: {waits or 'none'}"
        )


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
        await _ingestion(server, count, ROUNDS_QUICK if quick else ROUNDS_FULL, section)

        budget = await rest_per_song(server, 3 if quick else 10)
        per_song = budget["global"] / max(1, budget["songs"])
        section.rows.append(
            Row(
                "global-limit REST requests per delivered song (2 processes, progress on)",
                f"{per_song:.2f}",
                f"{budget['songs']} songs, {budget['exempt']} exempt requests",
                None,
                "≤ 2 (its post; a feed post where set)",
                per_song <= 2,
            )
        )
        section.notes.append(
            f"REST budget: {budget['commands']} commands in 2 guilds on 2 processes, {budget['songs']} songs posted, "
            f"{budget['global']} global-limit requests ({', '.join(budget['global_kinds'])}), {budget['exempt']} "
            "through interaction tokens; callbacks spread by the proxy over both processes."
        )

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


async def _ingestion(server: Any, count: int, rounds: int, section: Section) -> None:
    """One process against two (load split by the client), alternating, `rounds` times, in one
    guild and in 100; SQLite and the tests' proxy once each for reference. Medians and spreads."""
    new_db = server.create_database
    sqlite = await ingest(None, 1, count, via_proxy=False, guilds=1)
    proxied = await ingest(await asyncio.to_thread(new_db), 2, count, via_proxy=True, guilds=1)
    section.notes.append(
        f"Cluster ingestion, one guild: SQLite 1 process {sqlite['rate']:.0f}/s; PostgreSQL, 2 processes behind "
        f"the tests' Python proxy {proxied['rate']:.0f}/s (measures that proxy more than the cluster)."
    )
    for guilds, target in ((1, 1.2), (100, 1.5)):
        rates: dict[int, list[float]] = {1: [], 2: []}
        p99s: dict[int, list[float]] = {1: [], 2: []}
        costs: dict[int, list[tuple[float, float, float]]] = {1: [], 2: []}
        ratios: list[float] = []
        lost = 0
        for n in range(rounds):
            order = (1, 2) if n % 2 == 0 else (2, 1)  # alternate which goes first, so drift cancels
            results = {}
            for processes in order:
                url = await asyncio.to_thread(new_db)
                sample = processes == 2 and n == 0
                results[processes] = await ingest(url, processes, count, via_proxy=False, guilds=guilds, sample=sample)
                if sample:
                    section.notes.append(f"PostgreSQL during 2 processes, {guilds} guild(s): {results[2]['waits']}.")
            for processes, result in results.items():
                rates[processes].append(result["rate"])
                p99s[processes].append(percentile(result["latencies"], 99))
                costs[processes] += per_callback(result)
                lost += count + WARMUP - result["report"].get("delivered_with_result", 0)
            ratios.append(results[2]["rate"] / results[1]["rate"])
        median_ratio = statistics.median(ratios)
        p99_ratio = statistics.median(p99s[2]) / statistics.median(p99s[1])
        section.rows += [
            Row(
                f"PG callbacks/s, 1 process, {guilds} guild(s), median of {rounds}",
                f"{statistics.median(rates[1]):.0f}/s ({min(rates[1]):.0f}–{max(rates[1]):.0f})",
                f"{sqlite['rate']:.0f}/s (SQLite, 1 guild)" if guilds == 1 else "–",
                statistics.median(rates[1]) / sqlite["rate"] if guilds == 1 else None,
            ),
            Row(
                f"PG 2 processes ÷ 1, {guilds} guild(s), load split by the client",
                f"{statistics.median(rates[2]):.0f}/s ({min(rates[2]):.0f}–{max(rates[2]):.0f})",
                f"{statistics.median(rates[1]):.0f}/s (1 process)",
                median_ratio,
                f"median ≥ {target}×, every run ≥ 1.0× (runs: {', '.join(f'{r:.2f}' for r in ratios)})",
                median_ratio >= target and min(ratios) >= 1.0,
            ),
            Row(
                f"PG callback p99, 2 processes ÷ 1, {guilds} guild(s)",
                ms(statistics.median(p99s[2])),
                ms(statistics.median(p99s[1])) + " (1 process)",
                p99_ratio,
                "≤ 2×",
                p99_ratio <= 2.0,
            ),
        ]
        for processes in (1, 2):
            statements = statistics.median(c[0] for c in costs[processes])
            section.rows.append(
                Row(
                    f"PG statements per callback, {processes} process(es), {guilds} guild(s)",
                    f"{statements:.2f} (transactions {statistics.median(c[1] for c in costs[processes]):.2f})",
                    "3.04 (before)",
                    statements / 3.04,
                    "≤ 2",
                    statements <= 2,
                )
            )
            section.rows.append(
                Row(
                    f"CPU s per 1,000 callbacks per process, {processes} process(es), {guilds} guild(s)",
                    f"{statistics.median(c[2] for c in costs[processes]):.2f} s",
                    f"{statistics.median(c[2] for c in costs[1]):.2f} s (1 process)",
                    statistics.median(c[2] for c in costs[processes]) / statistics.median(c[2] for c in costs[1]),
                )
            )
        section.notes.append(
            f"Ingestion, {guilds} guild(s): 1 process {', '.join(f'{r:.0f}' for r in rates[1])}/s; "
            f"2 processes {', '.join(f'{r:.0f}' for r in rates[2])}/s; callbacks not stored: {lost}."
        )


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
