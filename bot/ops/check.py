"""`python -m bot check`: is this bot ready to run? One line per check, exit 0 only when all pass.

Nothing here changes anything: Discord is asked who the token belongs to, the Producer API is asked
about a task that does not exist (free), the database is opened read-only (and not created), and
the callback URL is tried against a listener that exists only for the check.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import secrets
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import discord
from aiohttp import web

from bot.core.logs import setup_logging
from bot.core.settings import Settings
from bot.ops.startup import database_problem, describe_network_error, port_problem, use_rest_proxy
from bot.producer.client import ProducerClient, ProducerError
from bot.storage import StorageError
from bot.storage.database import Dialect, migrations, pending_migrations
from bot.storage.postgres import postgres_applied_migrations
from bot.storage.sqlite import sqlite_applied_migrations

CHECK_TIMEOUT = 15.0
"""Seconds each remote check may take."""
BOT_NAME = "producer-discord-bot"
"""What this bot's /healthz answers under `bot`, so the callback check knows it reached us."""


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    line: str


async def check_discord(token: str, proxy: str | None = None) -> Outcome:
    """GET /users/@me through discord.py's own client: the call `login` makes, without the gateway
    (through DISCORD_REST_PROXY when set, as the bot will)."""
    where = f"Discord through DISCORD_REST_PROXY ({proxy})" if proxy else "Discord"
    http = discord.http.HTTPClient(asyncio.get_running_loop())
    try:
        data = await asyncio.wait_for(http.static_login(token), CHECK_TIMEOUT)
    except discord.LoginFailure:
        return Outcome(
            False, "Discord refused DISCORD_TOKEN: copy it again from the developer portal (Bot → Reset Token)"
        )
    except discord.HTTPException as exc:
        return Outcome(False, f"Discord answered HTTP {exc.status} when checking DISCORD_TOKEN; try again later")
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        return Outcome(False, f"Cannot reach {where} ({describe_network_error(exc)}); check the network and DNS")
    finally:
        await http.close()
    via = " through DISCORD_REST_PROXY" if proxy else ""
    return Outcome(True, f"Discord accepts DISCORD_TOKEN{via} (bot user {data.get('username')}, id {data.get('id')})")


async def check_producer(session: aiohttp.ClientSession, settings: Settings) -> Outcome:
    api = ProducerClient(
        session,
        settings.producer_api_base,
        settings.producer_api_token,
        timeout=CHECK_TIMEOUT,
        max_rate_limit_retries=1,
    )
    try:
        await api.check_token()
    except ProducerError as exc:
        if exc.auth_failed:
            return Outcome(
                False,
                f"The Producer API refused PRODUCER_API_TOKEN ({exc.code}): copy it again from "
                "https://platform.acedata.cloud (Credentials)",
            )
        if exc.status == 0:
            return Outcome(
                False,
                f"Cannot reach the Producer API at {settings.producer_api_base} ({exc.message}): check "
                "PRODUCER_API_BASE and this machine's network and DNS",
            )
        return Outcome(False, f"The Producer API answered {exc.status} {exc.code} at {settings.producer_api_base}")
    return Outcome(True, f"The Producer API accepts PRODUCER_API_TOKEN ({settings.producer_api_base})")


def latest_migration(dialect: Dialect = "sqlite") -> int:
    """The highest migration this version of the bot knows for `dialect`."""
    return max((version for version, _, _ in migrations(dialect)), default=0)


def migration_outcome(where: str, dialect: Dialect, applied: set[int]) -> Outcome:
    """Current, behind (the bot applies the rest at its next start) or ahead (a newer bot's database)."""
    pending, unknown = pending_migrations(dialect, applied)
    if unknown:
        return Outcome(
            False,
            f"{where} has migration(s) {', '.join(f'{v:04d}' for v in unknown)} that this version does not know: "
            "it was used by a newer bot; run that version, or restore a backup",
        )
    if pending:
        return Outcome(
            False,
            f"{where} is missing migration(s) {', '.join(f'{v:04d}' for v in pending)}. Back it up "
            "(python -m bot backup PATH), then start the bot once: it applies them",
        )
    return Outcome(True, f"{where} opens and its migrations are current ({max(applied, default=0):04d})")


def check_sqlite(path: Path) -> Outcome:
    """Opens the file read-only (never creating it) and compares its migrations with this version's."""
    problem = database_problem(path, create=False)
    if problem:
        return Outcome(False, problem)
    try:
        applied = sqlite_applied_migrations(path)
    except sqlite3.Error as exc:
        return Outcome(False, f"Cannot open the database {path}: {exc} (is it an SQLite file?)")
    if applied is None:
        return Outcome(True, f"Database {path} does not exist yet; the bot creates it at its first start")
    return migration_outcome(f"Database {path}", "sqlite", applied)


async def check_postgres(url: str) -> Outcome:
    """Connects once and reads `schema_migrations`; creates nothing (an empty database is fine)."""
    try:
        applied = await postgres_applied_migrations(url)
    except StorageError as exc:
        return Outcome(False, f"{exc}; check DATABASE_URL and that the server is running")
    if not applied:
        return Outcome(True, "PostgreSQL (DATABASE_URL) answers; its tables are created at the bot's first start")
    return migration_outcome("PostgreSQL (DATABASE_URL)", "postgres", applied)


async def check_port(session: aiohttp.ClientSession, host: str, port: int, variable: str) -> Outcome:
    """The listener can bind `host:port`, as it does at start; a port held by this bot running is fine."""
    runner = web.AppRunner(web.Application(), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE and await _is_this_bot(session, port):
            return Outcome(True, f"Port {port} ({variable}) is in use by this bot, which is running")
        return Outcome(False, str(port_problem(exc, port, variable, host)))
    finally:
        await runner.cleanup()
    return Outcome(True, f"The listener can open {host}:{port} ({variable})")


async def _is_this_bot(session: aiohttp.ClientSession, port: int) -> bool:
    try:
        async with session.get(f"http://127.0.0.1:{port}/healthz", timeout=aiohttp.ClientTimeout(total=5)) as response:
            body = await response.json(content_type=None)
    except (aiohttp.ClientError, OSError, TimeoutError, ValueError):
        return False
    return isinstance(body, dict) and body.get("bot") == BOT_NAME


async def check_public_url(session: aiohttp.ClientSession, settings: Settings) -> Outcome:
    """PUBLIC_URL/healthz must reach this machine's listener (callbacks arrive the same way).

    If the port is free, a stand-in listener answers with a random word, so reaching *it* is
    proven; if the bot is running (the port is taken), its own /healthz must answer as this bot.
    """
    assert settings.public_url is not None
    url = f"{settings.public_url}/healthz"
    word = secrets.token_urlsafe(16)

    async def stand_in(_: web.Request) -> web.Response:
        return web.json_response({"bot": BOT_NAME, "check": word})

    app = web.Application()
    app.router.add_get("/healthz", stand_in)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, settings.webhook_host, settings.webhook_port).start()
            running = False
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                return Outcome(
                    False, str(port_problem(exc, settings.webhook_port, "WEBHOOK_PORT", settings.webhook_host))
                )
            running = True  # the bot itself (we hope): its /healthz must say so
        try:
            async with session.get(url, timeout=aiohttp.ClientTimeout(total=CHECK_TIMEOUT)) as response:
                status = response.status
                try:
                    body = await response.json(content_type=None)
                except ValueError:
                    body = None
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            return Outcome(False, f"Cannot reach {url} ({describe_network_error(exc)}): check PUBLIC_URL and DNS")
        ours = isinstance(body, dict) and body.get("bot") == BOT_NAME and (running or body.get("check") == word)
        if not ours:
            where = "the running bot" if running else f"this listener (port {settings.webhook_port}, WEBHOOK_PORT)"
            return Outcome(
                False,
                f"{url} answered HTTP {status} but not from {where}: check the reverse proxy or port forwarding "
                "in front of PUBLIC_URL",
            )
        return Outcome(True, f"{url} reaches this listener (callbacks can arrive)")
    finally:
        await runner.cleanup()


async def run_check(settings: Settings, *, out: Callable[[str], None] = print) -> int:
    """Run every check, print one line each, and return the exit status (0 only if all passed)."""
    setup_logging("CRITICAL", [settings.discord_token, settings.producer_api_token, str(settings.database_url or "")])
    logging.getLogger("discord").setLevel(logging.CRITICAL)
    mode = "callback mode" if settings.callback_mode else "polling mode"
    outcomes = [Outcome(True, f"Configuration is valid ({mode})")]
    out(f"ok    {outcomes[0].line}")

    async def run(check: Awaitable[Outcome]) -> None:
        outcome = await check
        outcomes.append(outcome)
        out(f"{'ok' if outcome.ok else 'FAIL':5} {outcome.line}")

    if settings.discord_rest_proxy:
        use_rest_proxy(settings.discord_rest_proxy)
    async with aiohttp.ClientSession() as session:
        await run(check_discord(settings.discord_token, settings.discord_rest_proxy))
        await run(check_producer(session, settings))
        if settings.database_url:
            await run(check_postgres(str(settings.database_url)))
        else:
            await run(asyncio.to_thread(check_sqlite, settings.database_path))
        await run(check_port(session, settings.webhook_host, settings.webhook_port, "WEBHOOK_PORT"))
        if settings.metrics and settings.metrics_port:
            await run(check_port(session, settings.webhook_host, settings.metrics_port, "METRICS_PORT"))
        if settings.callback_mode:
            await run(check_public_url(session, settings))
    failed = sum(not outcome.ok for outcome in outcomes)
    out("All checks passed." if not failed else f"{failed} check(s) failed.")
    return 0 if not failed else 1
