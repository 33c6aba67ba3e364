"""Start-up failures a newcomer meets, each turned into one line that says what to do.

A traceback tells an owner where the bot broke; these lines tell them what to change. Everything
here runs before or while the bot starts, so nothing in it may assume the bot is connected.
"""

from __future__ import annotations

import asyncio
import errno
import getpass
import logging
import os
import socket
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import aiohttp
import discord

from bot.producer.client import ProducerClient, ProducerError
from bot.storage.models import DatabaseUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")

DISCORD_RETRY_FIRST = 2.0
DISCORD_RETRY_MAX = 60.0
"""Back-off between attempts to reach Discord at start: 2, 4, 8 … seconds, at most a minute."""


class StartupError(Exception):
    """The bot cannot start; the message is the one line the owner needs."""


def current_user() -> str:
    """`name (uid N)`: the user the bot runs as, so a permission message names who needs access."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # a container uid with no passwd entry
        name = "?"
    return f"{name} (uid {os.getuid()})" if hasattr(os, "getuid") else name


def database_problem(path: Path, *, create: bool) -> str | None:
    """Why the SQLite file at `path` cannot be created or written, or None when it can.

    SQLite needs to write the file *and* its folder (the `-wal` and `-shm` files live beside it),
    and its own error ("unable to open database file") names neither. With `create` (at start)
    the folder is made and a scratch file written and removed, which also catches read-only
    mounts; without it (`check`, which changes nothing) only permissions are compared.
    """
    if str(path) == ":memory:":
        return None
    who = current_user()
    fix = "Give that user access (e.g. chown the folder) or set DATABASE_PATH to a writable place."
    if path.is_dir():
        return f"DATABASE_PATH {path} is a folder; point it at a file inside it, e.g. {path / 'bot.db'}."
    folder = path.parent
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        return f"Cannot create the database folder {folder}: {existing} is a file. Set DATABASE_PATH to another path."
    if create:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                pass
            if path.exists():
                with path.open("r+b"):
                    pass
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            return f"Cannot write the database {path} as user {who}: {reason} ({exc.filename or folder}). {fix}"
        return None
    if not os.access(existing, os.W_OK | os.X_OK):
        what = "create the database folder" if existing != folder else "write in the database folder"
        return f"Cannot {what} {folder}: {existing} is not writable by user {who}. {fix}"
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        return f"The database {path} is not writable by user {who}. {fix}"
    return None


def use_rest_proxy(base: str) -> None:
    """Send every Discord REST call (bot token and interaction webhooks alike) through `base`.

    A shared REST proxy (nirn-proxy, twilight-http-proxy) keeps all processes of a cluster under
    the token's one global limit of 50 requests per second; it serves Discord's own paths. `run`
    and `check` both use it, so `check` asks Discord the way the bot will.
    """
    discord.http.Route.BASE = f"{base}/api/v{discord.http.INTERNAL_API_VERSION}"


def port_problem(error: OSError, port: int, variable: str, host: str | None = None) -> StartupError:
    """A listener could not bind: name the port and the variable that sets it."""
    if isinstance(error, socket.gaierror):
        return StartupError(f"Cannot listen on WEBHOOK_HOST={host}: that name does not resolve on this machine.")
    if error.errno == errno.EADDRINUSE:
        return StartupError(
            f"Port {port} is already in use ({variable}={port}): stop the program using it, or set {variable} "
            "to a free port."
        )
    if error.errno == errno.EACCES:
        return StartupError(
            f"Not allowed to listen on port {port} ({variable}={port}): ports below 1024 need privileges; "
            f"set {variable} to 1024 or above."
        )
    if error.errno == errno.EADDRNOTAVAIL:
        return StartupError(
            f"Cannot listen on port {port}: WEBHOOK_HOST={host} is not one of this machine's addresses; use 0.0.0.0 "
            "(every address) or 127.0.0.1 (behind a proxy on this machine)."
        )
    return StartupError(f"Cannot listen on port {port} ({variable}={port}): {error.strerror or error}.")


def describe_network_error(error: BaseException) -> str:
    """A short, secret-free name for why a connection failed (DNS, refused, timeout …)."""
    if isinstance(error, aiohttp.ClientConnectorError) and isinstance(error.os_error, socket.gaierror):
        return "DNS lookup failed"
    if isinstance(error, aiohttp.ClientConnectorError):
        code = error.os_error.errno
        return f"cannot connect ({os.strerror(code) if code else type(error.os_error).__name__})"
    if isinstance(error, TimeoutError):
        return "timed out"
    if isinstance(error, aiohttp.ClientResponseError):
        return f"HTTP {error.status}"
    return type(error).__name__


async def wait_for_discord(session: aiohttp.ClientSession, api_base: str, *, attempts: int | None = None) -> None:
    """Return once Discord's API answers at all; until then, say so and retry with back-off.

    A DNS or network failure at start is usually the network coming up after the bot (a reboot,
    a container starting first): exiting would only make the owner's supervisor restart us.
    `GET /gateway` needs no token, so this proves only that Discord can be reached.
    """
    delay = DISCORD_RETRY_FIRST
    attempt = 0
    while True:
        attempt += 1
        try:
            async with session.get(f"{api_base}/gateway", timeout=aiohttp.ClientTimeout(total=15)) as response:
                if response.status < 500:
                    if attempt > 1:
                        log.info("Discord is reachable again")
                    return
                reason = f"Discord answered HTTP {response.status}"
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            reason = describe_network_error(exc)
        if attempts is not None and attempt >= attempts:
            raise StartupError(f"Cannot reach Discord ({reason}); check this machine's network and DNS.")
        log.warning("Cannot reach Discord (%s); retrying in %.0f s", reason, delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, DISCORD_RETRY_MAX)


async def wait_for_database(open_database: Callable[[], Awaitable[T]]) -> T:
    """Open the database, retrying with back-off while the server cannot be reached (a database
    container starting after the bot, a failover); a refusal (wrong password, no such database) is final."""
    delay = DISCORD_RETRY_FIRST
    while True:
        try:
            database = await open_database()
        except DatabaseUnavailable as exc:
            log.warning("%s; retrying in %.0f s", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, DISCORD_RETRY_MAX)
            continue
        if delay > DISCORD_RETRY_FIRST:
            log.info("The database answers again")
        return database


async def check_producer_token(api: ProducerClient, base: str) -> None:
    """At start, not at a member's first command: a refused token is logged loudly and the owner
    gets a DM (through the bot's `AccountAlerts`, which watch every API answer); an API that cannot
    be reached is one line saying what to check."""
    try:
        await api.check_token()
    except ProducerError as exc:
        if exc.status == 0:
            log.warning(
                "Cannot reach the Producer API at %s to check PRODUCER_API_TOKEN (%s): songs wait until it "
                "answers; check PRODUCER_API_BASE and this machine's network",
                base,
                exc.message,
            )
        elif not exc.auth_failed:
            log.warning(
                "The Producer API answered HTTP %s (%s) when checking PRODUCER_API_TOKEN at start; it is "
                "checked again with the first song",
                exc.status,
                exc.code,
            )
        return
    log.info("The Producer API accepts PRODUCER_API_TOKEN")
