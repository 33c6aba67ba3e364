"""The storage layer on both backends: several writers at once (as several processes would be), leases,
migrations, the library and jams, and the SQL translation PostgreSQL needs."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path

import asyncpg
import pytest

from bot.core.settings import SettingsError, settings_from_mapping
from bot.songs.requests import new_secret
from bot.storage import Repository, SongRow, StorageError, Task, open_repository
from bot.storage import sqlite as sqlite_module
from bot.storage.community import SETTINGS_TTL_POSTGRES
from bot.storage.database import migrations
from bot.storage.postgres import database_secrets, to_numbered
from tests.harness import free_port
from tests.postgres import BACKENDS, PostgresServer
from tests.rows import song_row
from tests.storage.test_repository import DAY, enqueue, limits, new_task

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=BACKENDS)
async def writers(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[list[Repository]]:
    """Three repositories on one database, each with its own connections and its own batching, as
    three bot processes would have: SQLite through three connections to one file, PostgreSQL
    through three pools."""
    repos: list[Repository] = []
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        for _ in range(3):
            repos.append(await Repository.connect(url))
    else:
        for _ in range(3):
            repos.append(await Repository.open(tmp_path / "bot.db"))
    try:
        yield repos
    finally:
        for repo in repos:
            await repo.close()


# -- several writers -----------------------------------------------------------------------------


async def test_charges_from_several_writers_are_exact(writers: list[Repository]) -> None:
    """60 requests through three writers against an allowance of 7 and a member cap of 4: exact."""
    results = await asyncio.gather(
        *(
            writers[n % 3].enqueue_task(new_task(n, user=1 if n % 2 else None), limits(allowance=7, cap=4))
            for n in range(60)
        )
    )
    accepted = [task for task in results if isinstance(task, Task)]
    assert len(accepted) == 7
    assert await writers[0].quota_used(1, DAY) == 7
    assert await writers[1].member_used(1, 1, DAY) == len([t for t in accepted if t.requester_id == 1]) <= 4
    assert len(await writers[2].tasks_in_states("queued")) == 7


async def test_refunds_during_charges_are_kept(writers: list[Repository]) -> None:
    """A refund committed by one writer while another charges is not overwritten by the charge."""
    lim = limits(allowance=100)
    first = [await enqueue(writers[0], new_task(n), lim) for n in range(10)]
    await asyncio.gather(
        *(writers[1].fail_task(task.id, "boom", 1001.0) for task in first),
        *(writers[2].enqueue_task(new_task(100 + n), lim) for n in range(10)),
    )
    assert await writers[0].quota_used(1, DAY) == 10


async def test_promotions_from_several_writers_fill_exactly_the_free_slots(writers: list[Repository]) -> None:
    lim = limits(allowance=100, running=3, per_member=3)
    for n in range(12):
        await enqueue(writers[0], new_task(n), lim)
    promoted = await asyncio.gather(*(writers[n % 3].promote_queued(1, lim, new_secret, 1500.0) for n in range(9)))
    assert sum(len(batch) for batch in promoted) == 3
    assert len(await writers[0].tasks_in_states("reserved")) == 3


async def test_one_callback_stored_by_several_writers_is_claimed_once(writers: list[Repository]) -> None:
    task = await enqueue(writers[0], new_task(1), limits())
    ((_, secret),) = await writers[0].promote_queued(1, limits(), new_secret, 1000.0)
    reserved = await writers[0].task(task.id)
    assert reserved is not None
    secret_hash = (await writers[0].secret_hashes([task.id]))[task.id]
    assert secret
    stored = await asyncio.gather(
        *(writers[n % 3].store_callback(secret_hash, {"n": n}, 1001.0, None) for n in range(9))
    )
    assert sum(result is not None for result in stored) == 1
    claims = await asyncio.gather(*(repo.claim_delivery(task.id) for repo in writers))
    assert claims == [None, None, None]  # the callback already claimed it for delivery


async def test_jam_lines_from_several_writers_respect_the_limit(writers: list[Repository]) -> None:
    jam = await writers[0].create_jam(
        guild_id=1, channel_id=5, starter_id=7, theme="t", style="", model="FUZZ-2.0", at=1.0
    )
    assert jam is not None
    numbers = await asyncio.gather(
        *(writers[n % 3].add_jam_line(jam.id, 100 + n, f"line {n}", max_lines=5, at=2.0) for n in range(15))
    )
    assert sorted(n for n in numbers if n is not None) == [1, 2, 3, 4, 5]
    assert len(await writers[1].jam_lines(jam.id)) == 5


# -- leases --------------------------------------------------------------------------------------


async def test_named_lease_has_one_holder_until_it_expires(writers: list[Repository]) -> None:
    a, b, c = writers
    taken = await asyncio.gather(a.try_lease("poller", "A", 30, 100.0), b.try_lease("poller", "B", 30, 100.0))
    assert taken.count(True) == 1
    holder = "A" if taken[0] else "B"
    other = b if holder == "A" else a
    mine = a if holder == "A" else b
    assert await c.lease_holder("poller", 110.0) == holder
    assert await mine.try_lease("poller", holder, 30, 120.0)  # renewed until 150
    assert not await other.try_lease("poller", "B" if holder == "A" else "A", 30, 149.0)
    assert await c.try_lease("poller", "C", 30, 151.0)  # expired: taken over
    assert await c.lease_holder("poller", 152.0) == "C"
    assert not await a.release_lease("poller", holder)  # no longer theirs
    assert await c.release_lease("poller", "C")
    assert await a.lease_holder("poller", 152.0) is None
    assert await b.try_lease("poller", "B", 30, 153.0)


async def test_delivery_lease_expires_and_is_taken_over_once(writers: list[Repository]) -> None:
    a, b, c = writers
    task = await enqueue(a, new_task(1), limits())
    before = await a.database_time()
    await a.promote_queued(1, limits(), new_secret, 1000.0, owner="A", ttl=60)
    leased = await a.task(task.id)
    # The lease runs by the database's clock, not the caller's (1000.0 here).
    assert leased is not None and leased.lease_owner == "A" and leased.lease_until is not None
    assert before + 60 <= leased.lease_until <= await a.database_time() + 60
    t0 = leased.lease_until - 60  # from here on the test names the time, to step past leases
    assert await a.store_result(task.id, {"success": True}, 1001.0)
    claimed = await a.claim_delivery(task.id, owner="A", now=t0 + 2, ttl=30)
    assert claimed is not None and claimed.state == "delivering" and claimed.lease_until == t0 + 32
    # While A's lease runs, nobody else may deliver it.
    assert await b.claim_delivery(task.id, owner="B", now=t0 + 20, ttl=30) is None
    assert await b.claim_expired_tasks("B", 30, t0 + 20) == []
    # A renews (heartbeat), then dies; once the lease runs out one survivor takes it over.
    assert await a.renew_task_leases("A", 30, t0 + 25) == {task.id: claimed.lease_epoch}
    assert await b.claim_expired_tasks("B", 30, t0 + 50) == []
    results = await asyncio.gather(
        b.claim_expired_tasks("B", 30, t0 + 60, ("delivering",)),
        c.claim_expired_tasks("C", 30, t0 + 60, ("delivering",)),
        c.claim_delivery(task.id, owner="C", now=t0 + 60, ttl=30),
    )
    winners = [r for r in (*results[0], *results[1], results[2]) if r is not None]
    assert len(winners) == 1 and winners[0].id == task.id and winners[0].state == "delivering"
    assert winners[0].lease_owner in {"B", "C"}
    assert winners[0].lease_epoch == claimed.lease_epoch + 1  # a new claim, a new fencing token
    assert await a.renew_task_leases("A", 30, t0 + 61) == {}  # A lost it
    # A resumes and tries to finish under its old claim: nothing is written.
    assert not await a.mark_delivered(task.id, claimed.lease_epoch)
    assert not await a.release_delivery(task.id, epoch=claimed.lease_epoch, retry_at=t0 + 70)
    assert not await a.confirm_claim(task.id, claimed.lease_epoch, 30, ("delivering",))
    assert (await a.task(task.id)).state == "delivering"  # type: ignore[union-attr]
    winner = b if winners[0].lease_owner == "B" else c
    assert await winner.mark_delivered(task.id, winners[0].lease_epoch)
    assert await c.claim_expired_tasks("C", 30, t0 + 5000) == []  # finished work is never taken over


async def test_expired_tasks_are_split_between_claimers(writers: list[Repository]) -> None:
    a, b, c = writers
    lim = limits(allowance=100, running=20, per_member=20)
    for n in range(20):
        await enqueue(a, new_task(n), lim)
    await a.promote_queued(1, lim, new_secret, 1000.0, owner="A", ttl=10)
    later = await a.database_time() + 100
    claimed = await asyncio.gather(
        b.claim_expired_tasks("B", 30, later, ("reserved", "pending"), limit=8),
        c.claim_expired_tasks("C", 30, later, ("reserved", "pending"), limit=8),
        b.claim_expired_tasks("B", 30, later, ("reserved", "pending"), limit=8),
    )
    ids = [task.id for batch in claimed for task in batch]
    assert len(ids) == len(set(ids)) == 20


async def test_task_lease_take_renew_release(repo: Repository) -> None:
    task = await enqueue(repo, new_task(1), limits())
    assert await repo.lease_task(task.id, "A", 30, 100.0)  # never leased: free
    assert await repo.lease_task(task.id, "A", 30, 110.0)  # mine: renewed to 140
    assert not await repo.lease_task(task.id, "B", 30, 139.0)
    assert not await repo.release_task_lease(task.id, "B")
    assert await repo.lease_task(task.id, "B", 30, 141.0)  # expired
    assert await repo.release_task_lease(task.id, "B")
    current = await repo.task(task.id)
    assert current is not None and current.lease_owner is None and current.lease_until is None
    assert await repo.claim_expired_tasks("C", 30, 10_000.0) == []  # an unleased task is nobody's to take


async def test_an_unleased_delivery_is_not_taken_over(repo: Repository) -> None:
    """A one-process bot claims without leases; a cluster claimer must not steal that delivery."""
    task = await enqueue(repo, new_task(1), limits())
    await repo.promote_queued(1, limits(), new_secret, 1000.0)
    assert await repo.store_result(task.id, {"success": True}, 1001.0)
    assert await repo.claim_delivery(task.id) is not None
    assert await repo.claim_delivery(task.id, owner="B", now=9_999.0, ttl=30) is None
    await repo.release_delivery(task.id)
    again = await repo.claim_delivery(task.id, owner="B", now=9_999.0, ttl=30)
    assert again is not None and again.lease_owner == "B"


async def test_a_failed_delivery_is_counted_with_the_task_for_the_next_process(writers: list[Repository]) -> None:
    """Process A fails to deliver twice; process B, taking the retry, sees both failures, so its
    backoff continues from them (`Delivery.retry_delay`) instead of starting again."""
    a, b, _ = writers
    task = await enqueue(a, new_task(1), limits())
    await a.promote_queued(1, limits(), new_secret, 1000.0)
    assert await a.store_result(task.id, {"success": True}, 1001.0)
    for failures, (now, retry_at) in enumerate([(1002.0, 1010.0), (1011.0, 2020.0)]):
        claimed = await a.claim_delivery(task.id, owner="A", now=now, ttl=30)
        assert claimed is not None and claimed.delivery_failures == failures
        await a.release_delivery(task.id, retry_at=retry_at)
    assert await b.deliveries_due(2019.0) == []  # the backoff holds for every process
    [due] = await b.deliveries_due(2020.0)
    assert due.delivery_failures == 2
    retried = await b.claim_delivery(task.id, owner="B", now=2020.0, ttl=30)
    assert retried is not None and retried.delivery_failures == 2
    await b.release_delivery(task.id)  # handed back (stopping): not a failure
    assert (await a.task(task.id)).delivery_failures == 2  # type: ignore[union-attr]


# -- library, jams, settings ---------------------------------------------------------------------


def song(n: int, *, title: str, requester: int = 100, kind: str = "song", parent: str | None = None) -> SongRow:
    return song_row(
        f"song-{n}",
        kind=kind,
        requester_id=requester,
        title=title,
        duration=12.5,
        audio_url=None,
        parent_song_id=parent,
        action="upload",
        created_at=1000.0 + n,
        credits=[1, 2] if n == 1 else None,
    )


async def test_library_search_is_case_insensitive_and_escapes_wildcards(repo: Repository) -> None:
    await repo.add_song(song(1, title="Summer Nights", kind="upload"))
    await repo.add_song(song(2, title="100% summer_mix", requester=200, kind="upload", parent="song-1"))
    await repo.add_song(song(3, title="Winter", kind="upload"))
    again = await repo.add_song(song(1, title="changed", kind="upload"))
    assert again.title == "Summer Nights" and again.credits == [1, 2]  # a repeat keeps the first row
    found = await repo.search_songs(1, text="SUMMER")
    assert sorted(s.id for s in found) == ["song-1", "song-2"]  # both words match: ranked, best first
    assert [s.id for s in await repo.search_songs(1, text="0%")] == ["song-2"]
    assert [s.id for s in await repo.search_songs(1, text="r_m")] == ["song-2"]
    assert await repo.search_songs(1, text="r%n") == []
    assert [s.id for s in await repo.search_songs(1, requester_id=200)] == ["song-2"]
    assert await repo.count_songs(1, text="summer") == 2 and await repo.count_songs(1) == 3
    assert [s.id for s in await repo.search_songs(1, text="SONG-")] == ["song-3", "song-2", "song-1"]
    assert [s.id for s in await repo.children("song-1")] == ["song-2"]
    await repo.set_song_message("song-1", 10, 555)
    await repo.add_song_message("song-1", 11, 556)
    await repo.add_song_message("song-1", 11, 556)  # once
    by_message = await repo.song_by_message(556)
    assert by_message is not None and by_message.id == "song-1" and by_message.message_id == 555


async def test_settings_jams_and_meta(repo: Repository) -> None:
    assert (await repo.guild_settings(1)).allow_uploads is True
    changed = await repo.update_guild_settings(1, allow_uploads=False, member_daily_cap=3, feed_channel_id=2**62)
    assert changed.allow_uploads is False and changed.member_daily_cap == 3 and changed.feed_channel_id == 2**62
    cleared = await repo.update_guild_settings(1, member_daily_cap=None)
    assert cleared.member_daily_cap is None and cleared.allow_uploads is False
    jam = await repo.create_jam(guild_id=1, channel_id=2**60, starter_id=3, theme="t", style="s", model="m", at=1.0)
    assert jam is not None and jam.channel_id == 2**60
    taken = await repo.create_jam(guild_id=1, channel_id=2**60, starter_id=4, theme="u", style="", model="m", at=2.0)
    assert taken is None
    assert await repo.add_jam_line(jam.id, 3, "first", max_lines=2, at=3.0) == 1
    assert await repo.finish_jam(jam.id) and not await repo.finish_jam(jam.id)
    assert await repo.add_jam_line(jam.id, 3, "late", max_lines=2, at=4.0) is None
    await repo.reopen_jam(jam.id)
    assert (await repo.jam(jam.id)).state == "open"  # type: ignore[union-attr]
    await repo.set_meta("k", "v1")
    await repo.set_meta("k", "v2")
    assert await repo.get_meta("k") == "v2" and await repo.get_meta("missing") is None


async def test_settings_changed_by_another_process_are_seen_after_the_cache_expires(
    writers: list[Repository],
) -> None:
    a, b, _ = writers
    expected_ttl = SETTINGS_TTL_POSTGRES if a.dialect == "postgres" else float("inf")
    assert a._settings_ttl == expected_ttl  # SQLite: one process is the only writer, the cache never expires
    a._settings_ttl = 0  # what waiting out the TTL would do, without a timed test
    assert (await a.guild_settings(1)).max_queued is None
    await b.update_guild_settings(1, max_queued=5)
    assert (await a.guild_settings(1)).max_queued == 5


# -- migrations ----------------------------------------------------------------------------------


async def test_an_existing_sqlite_database_is_upgraded_in_place(tmp_path: Path) -> None:
    """A database made by an earlier release (user_version 3) keeps its rows and gains leases."""
    path = tmp_path / "bot.db"
    folder = resources.files("bot.storage") / "migrations" / "sqlite"
    with sqlite3.connect(path) as conn:
        for name in ("0001_initial.sql", "0002_song_library.sql", "0003_community.sql"):
            conn.executescript((folder / name).read_text(encoding="utf-8"))
        conn.execute("PRAGMA user_version = 3")
        conn.execute(
            "INSERT INTO tasks (id, guild_id, channel_id, requester_id, action, request, state, quota_day, cost, "
            "created_at, deadline_at) VALUES (7, 1, 2, 3, 'generate', '{}', 'received', ?, 1, 1.0, 2.0)",
            (DAY,),
        )
    conn.close()
    repo = await Repository.open(path)
    try:
        task = await repo.task(7)
        assert task is not None and task.state == "received" and task.lease_owner is None
        assert await repo.try_lease("x", "A", 10, 1.0)
    finally:
        await repo.close()
    every = [version for version, _, _ in migrations("sqlite")]
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == max(every)
        applied = [row[0] for row in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
        assert applied == every  # 0001-0003 recorded from user_version, the rest applied now
    conn.close()


async def test_processes_starting_together_migrate_once(postgres_server: PostgresServer) -> None:
    """Five processes' first connection to an empty database: one migrates, the others wait and find it done."""
    conn = await asyncpg.connect(postgres_server.admin_url)
    try:
        await conn.execute('CREATE DATABASE "bot_test_fresh_migrate"')
    finally:
        await conn.close()
    url = postgres_server.admin_url.rsplit("/", 1)[0] + "/bot_test_fresh_migrate"
    try:
        repos = await asyncio.gather(*(Repository.connect(url) for _ in range(5)))
        try:
            versions = await repos[0]._fetchall("SELECT version FROM schema_migrations ORDER BY version")
            assert [row[0] for row in versions] == [version for version, _, _ in migrations("postgres")]
            assert await repos[4].try_lease("x", "A", 10, 1.0)
        finally:
            for repo in repos:
                await repo.close()
    finally:
        postgres_server.drop_database(url)


def test_placeholders_are_numbered_outside_literals_and_comments() -> None:
    sql = "SELECT ?, '?', 'it''s ?', \"a?\" -- ?\n, ? /* ? */ , ? LIKE ? ESCAPE '\\'"
    assert to_numbered(sql) == "SELECT $1, '?', 'it''s ?', \"a?\" -- ?\n, $2 /* ? */ , $3 LIKE $4 ESCAPE '\\'"


# -- configuration -------------------------------------------------------------------------------


def test_database_url_selects_postgresql_and_stays_secret() -> None:
    base = {"DISCORD_TOKEN": "d", "PRODUCER_API_TOKEN": "p"}
    assert settings_from_mapping(base).database_url is None
    settings = settings_from_mapping({**base, "DATABASE_URL": "postgresql://bot:hunter2@db:5432/bot"})
    assert settings.database_url == "postgresql://bot:hunter2@db:5432/bot"
    assert "hunter2" not in repr(settings)
    with pytest.raises(SettingsError, match="DATABASE_URL must start with postgresql://"):
        settings_from_mapping({**base, "DATABASE_URL": "mysql://bot@db/bot"})


async def test_unreachable_database_is_one_clear_line_without_the_password() -> None:
    """What `python -m bot` logs as its one line (a StorageError) when PostgreSQL cannot be reached."""
    settings = settings_from_mapping(
        {
            "DISCORD_TOKEN": "d-token",
            "PRODUCER_API_TOKEN": "p-token",
            "DATABASE_URL": f"postgresql://bot:hunter2@127.0.0.1:{(port := free_port())}/bot",
        }
    )
    with pytest.raises(StorageError) as caught:
        await open_repository(settings)
    assert f"Cannot connect to PostgreSQL at 127.0.0.1:{port} (DATABASE_URL)" in str(caught.value)
    assert "hunter2" not in str(caught.value) and "\n" not in str(caught.value)


async def test_a_migration_that_lands_late_is_still_applied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Migration numbers are reserved ahead: a database that already has 0006 still gets a 0005 that
    arrives afterwards (each version is recorded, not only the highest)."""
    path = tmp_path / "bot.db"
    real = migrations("sqlite")
    before = [migration for migration in real if migration[0] != 5]  # 0005 (hardening) lands after 0006
    monkeypatch.setattr(sqlite_module, "migrations", lambda dialect: before)
    await (await Repository.open(path)).close()
    monkeypatch.setattr(sqlite_module, "migrations", lambda dialect: real)
    await (await Repository.open(path)).close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'jams_current_in_channel'").fetchone()
        assert conn.execute("SELECT COUNT(*) FROM schema_migrations WHERE version = 5").fetchone()[0] == 1
    conn.close()


def test_the_database_password_is_kept_out_of_logs() -> None:
    url = "postgresql://bot:hunter22@db:5432/bot"
    assert database_secrets(url) == [url, "hunter22"]
    assert database_secrets("postgresql://bot@db/bot") == ["postgresql://bot@db/bot"]
    assert database_secrets(None) == []
