"""The web gallery with 100,000 songs in one server: page time against a bare handler, and query plans.

One server holds `SONGS` songs (over 5 channels, 50 members, a word of the title from a small
list, so a search matches about one song in seven; a few thousand stars). Measured, on SQLite and
on PostgreSQL, through the real listener (`bot.app.webhook.create_app` plus `add_web_routes`:
the session cookie, the page middleware, Jinja2, the library query, star counts, the channels'
query `Visibility` runs): the gallery's first page (newest), a search ("rain", ranked like
`/songs text:`) and the most starred. Discord's side is in memory, as it is for a member the bot
already knows (the member, their roles, names). Baseline: a bare aiohttp handler returning the
same rows (the same `Repository.search_songs` call) as JSON. Requests are sequential over one
keep-alive connection; p95 of `REQUESTS` after a warm-up. The notes give each query's plan.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
from aiohttp import web

from bench.common import Row, Section, ms, percentile

SONGS = 100_000
GUILD = 777
CHANNELS = (11, 12, 13, 14, 15)
WORDS = ("rain", "night", "summer", "neon", "ocean", "fire", "dream")
SCENARIOS = {"gallery": "", "search": "?q=rain", "top": "?sort=top"}


def _fill_sql(dialect: str) -> str:
    """One statement that makes `SONGS` songs (the FTS triggers and the tsvector fill themselves)."""
    word = "CASE i % 7 " + " ".join(f"WHEN {n} THEN '{w}'" for n, w in enumerate(WORDS)) + " END"
    if dialect == "postgres":
        series, text, real = "generate_series(1, {n}) AS g(i)", "i::text", "::double precision"
        source = f"SELECT * FROM {series.format(n=SONGS)}"
    else:
        text, real = "i", ""
        source = f"WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < {SONGS}) SELECT i FROM g"
    return (
        "INSERT INTO songs (id, task_id, kind, guild_id, channel_id, requester_id, title, prompt, lyric, duration, "
        "audio_url, image_url, stems_url, model, seed, parent_song_id, action, message_id, created_at, credits) "
        f"SELECT 'song-' || {text}, NULL, 'song', {GUILD}, 11 + i % 5, 1000 + i % 50, "
        f"'Song ' || {text} || ' ' || ({word}), 'lofi ' || ({word}) || ' chill', '[Verse] la la ' || ({word}), "
        f"120.0, 'https://cdn.example/' || {text} || '.mp3', 'https://cdn.example/' || {text} || '.jpg', NULL, "
        f"'FUZZ-2.0', NULL, NULL, 'generate', NULL, (1700000000 + i){real}, NULL FROM ({source}) AS numbers"
    )


async def _fill(repo: Any) -> None:
    async with repo._transaction() as tx:
        await tx.execute(_fill_sql(repo.dialect), ())
        for n in range(3000):  # stars on 1,000 songs, 1 to 3 each
            await tx.execute(
                "INSERT INTO song_stars (song_id, user_id, guild_id, starred_at) VALUES (?, ?, ?, ?)",
                (f"song-{(n % 1000) * 97 % SONGS + 1}", 5000 + n // 1000, GUILD, 1.0),
            )
    await repo._write("ANALYZE")  # the planner's statistics, as a long-running database has them


class _Access:
    """Discord's side as for a member the bot already knows: in memory. The channels' query is the
    one `Visibility.channels_for` runs on every page."""

    def __init__(self, repo: Any) -> None:
        guild = SimpleNamespace(id=GUILD, name="Big Server")
        self.member = SimpleNamespace(id=1001, guild=guild, guild_permissions=SimpleNamespace(manage_guild=False))
        self.repo = repo

    def has_guild(self, guild_id: int) -> bool:
        return guild_id == GUILD

    async def gallery_member(self, guild_id: int, user_id: int) -> Any:
        return self.member if guild_id == GUILD and await self.repo.web_gallery(guild_id) else None

    async def visible_channels(self, member: Any) -> list[int]:
        return [channel for channel in await self.repo.song_channels(GUILD) if channel in CHANNELS]

    async def names(self, guild_id: int, user_ids: list[int]) -> dict[int, str]:
        return {user_id: f"member {user_id}" for user_id in user_ids}


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


def _gallery_app(repo: Any) -> web.Application:
    from aiohttp_session import new_session

    from bot.app.webhook import create_app
    from bot.core.secrets import new_key
    from bot.core.settings import settings_from_mapping
    from bot.web.app import add_web_routes
    from bot.web.session import start_session

    async def healthy() -> tuple[bool, dict[str, object]]:
        return True, {}

    settings = settings_from_mapping(
        {
            "DISCORD_TOKEN": "unused",
            "PRODUCER_API_TOKEN": "unused",
            "PUBLIC_URL": "http://127.0.0.1",
            "SECRET_KEY": new_key(),
            "DISCORD_CLIENT_SECRET": "unused",
        }
    )
    app = create_app(SimpleNamespace(), healthy)  # type: ignore[arg-type]
    pages = add_web_routes(
        app,
        settings=settings,
        repo=repo,
        client=SimpleNamespace(),  # type: ignore[arg-type]
        visibility=SimpleNamespace(),  # type: ignore[arg-type]
        session=SimpleNamespace(),  # type: ignore[arg-type]
        application_id=1,
        bot_name="bench",
        clock=time.monotonic,
    )
    pages.access = _Access(repo)  # type: ignore[assignment]

    async def sign_in(request: web.Request) -> web.Response:
        start_session(await new_session(request), user_id=1001, name="bench", guilds={GUILD: "Big Server"})
        return web.Response(text="ok")

    app.router.add_get("/bench-sign-in", sign_in)
    return app


def _bare_app(repo: Any) -> web.Application:
    from bot.web.pages import PAGE_SIZE, SORTS

    async def rows(request: web.Request) -> web.Response:
        sort = request.query.get("sort", "")
        songs = await repo.search_songs(
            GUILD,
            text=request.query.get("q", ""),
            limit=PAGE_SIZE + 1,
            order=SORTS[sort],
            channel_ids=list(CHANNELS),
        )
        return web.Response(text=json.dumps([[song.id, song.title, song.requester_id] for song in songs]))

    app = web.Application()
    app.router.add_get(f"/servers/{GUILD}", rows)
    return app


async def _times(base: str, query: str, requests: int, *, cookies: bool) -> list[float]:
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as client:
        if cookies:
            async with client.get(f"{base}/bench-sign-in") as response:
                assert response.status == 200
        url = f"{base}/servers/{GUILD}{query}"
        times = []
        for n in range(requests + 10):
            started = time.perf_counter()
            async with client.get(url) as response:
                body = await response.read()
                assert response.status == 200, body[:200]
            if n >= 10:
                times.append(time.perf_counter() - started)
        return times


async def _plans(repo: Any) -> list[str]:
    """Each query's plan, reduced to the lines that say how `songs` is read."""
    notes = []
    for name, text, order in (("gallery", "", "newest"), ("search", "rain", "auto"), ("top", "", "top")):
        sql, params = repo._library_query("SELECT songs.id", GUILD, text, None, order, None, channel_ids=list(CHANNELS))
        if repo.dialect == "postgres":
            rows = await repo._fetchall(f"EXPLAIN {sql} LIMIT 25", params)
            lines = [str(row[0]).strip() for row in rows if "Scan" in str(row[0])]
        else:
            rows = await repo._fetchall(f"EXPLAIN QUERY PLAN {sql} LIMIT 25", params)
            lines = [str(row[-1]) for row in rows if "SCAN" in str(row[-1]) or "SEARCH" in str(row[-1])]
        notes.append(f"{name}: " + "; ".join(lines))
    from bot.storage.songs import SONG_CHANNELS

    rows = await repo._fetchall(
        ("EXPLAIN " if repo.dialect == "postgres" else "EXPLAIN QUERY PLAN ") + SONG_CHANNELS, (GUILD, GUILD)
    )
    notes.append("channels: " + "; ".join(str(row[0] if repo.dialect == "postgres" else row[-1]) for row in rows))
    return notes


async def _measure(repo: Any, label: str, requests: int, section: Section) -> None:
    started = time.monotonic()
    await _fill(repo)
    section.notes.append(f"Web {label}: {SONGS:,} songs stored in {time.monotonic() - started:.1f} s.")
    gallery_runner, gallery = await _serve(_gallery_app(repo))
    bare_runner, bare = await _serve(_bare_app(repo))
    try:
        for name, query in SCENARIOS.items():
            page = await _times(gallery, query, requests, cookies=True)
            base = await _times(bare, query, requests, cookies=False)
            page95, base95 = percentile(page, 95), percentile(base, 95)
            section.rows.append(
                Row(
                    f"web {name} page p95, {label} ({SONGS // 1000}k songs)",
                    ms(page95),
                    ms(base95),
                    page95 / base95,
                    target="≤ 2× bare",
                    met=page95 <= 2 * base95,
                )
            )
        plans = await _plans(repo)
        full_scans = [plan for plan in plans if "SCAN songs " in plan + " " and "USING" not in plan]
        section.rows.append(
            Row(
                f"web query plans use indexes, {label}",
                "yes" if not full_scans else "no",
                target="yes",
                met=not full_scans and all("Seq Scan on songs" not in plan for plan in plans),
            )
        )
        section.notes += [f"Web {label} plan, {plan}" for plan in plans]
    finally:
        await gallery_runner.cleanup()
        await bare_runner.cleanup()


async def run(quick: bool) -> Section:
    from bot.storage.repository import Repository
    from tests.postgres import PostgresServer

    section = Section("Web gallery")
    requests = 50 if quick else 200
    with tempfile.TemporaryDirectory() as folder:
        repo = await Repository.open(Path(folder) / "bot.db")
        try:
            await _measure(repo, "SQLite", requests, section)
        finally:
            await repo.close()
    server = await asyncio.to_thread(PostgresServer.start)
    try:
        repo = await Repository.connect(await asyncio.to_thread(server.create_database))
        try:
            await _measure(repo, "PostgreSQL", requests, section)
        finally:
            await repo.close()
    finally:
        await asyncio.to_thread(server.stop)
    return section
