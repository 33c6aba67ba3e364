"""Composition root and command line: `python -m bot [run | check | backup PATH | keygen | usage | messages]`.

The command line is parsed before anything heavy is imported or opened, so `--help` and
`--version` answer at once and never connect anywhere. Every failure an owner can cause ends in
one line that says what to do (see `bot.ops.startup`), never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sqlite3
import sys

import aiohttp
import discord

from bot import __version__
from bot.app.bot import MusicBot
from bot.app.catalog import TEMPLATE, update_catalogs
from bot.billing.usage import run_usage_report
from bot.core.logs import setup_logging
from bot.core.secrets import new_key
from bot.core.settings import Settings, SettingsError, load_settings
from bot.ops.backup import run_backup
from bot.ops.check import run_check
from bot.ops.startup import (
    StartupError,
    current_user,
    database_problem,
    describe_network_error,
    use_rest_proxy,
    wait_for_database,
    wait_for_discord,
)
from bot.storage import StorageError, open_repository
from bot.storage.postgres import database_secrets

log = logging.getLogger("bot")

PROG = "python -m bot"
EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="A self-hosted Discord bot for making music with the Producer (FUZZ) API. "
        "Configuration comes from the environment and .env (see .env.example).",
        epilog="Without a command the bot runs. Exit status: 0 ok, 1 a check or the bot failed, "
        "2 the configuration is invalid.",
    )
    parser.add_argument("--version", action="version", version=f"producer-discord-bot {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("run", help="run the bot (the default)", description="Run the bot until stopped.")
    commands.add_parser(
        "check",
        help="check the configuration, both tokens, the database and (in callback mode) PUBLIC_URL",
        description="Check, without side effects, that the configuration is valid, that Discord accepts "
        "DISCORD_TOKEN, that the Producer API accepts PRODUCER_API_TOKEN, that the database opens with "
        "its migrations current and, in callback mode, that PUBLIC_URL/healthz reaches this listener. "
        "Exits 0 only when every check passes.",
    )
    backup = commands.add_parser(
        "backup",
        help="copy the database safely while the bot runs",
        description="Write a consistent copy of the SQLite database to PATH (a file, or a folder to put a "
        "dated file in), even while the bot is writing to it, and verify the copy. With DATABASE_URL "
        "(PostgreSQL) it prints the pg_dump command to use instead.",
    )
    backup.add_argument("path", metavar="PATH", help="where to write the copy")
    commands.add_parser(
        "keygen",
        help="print a new SECRET_KEY",
        description="Print a new random Fernet key for SECRET_KEY. To rotate, put the new key first: "
        "SECRET_KEY=new,old (the first encrypts, every key decrypts).",
    )
    usage = commands.add_parser(
        "usage",
        help="credits per server per month, and who paid (the bot's key or the server's own)",
        description="Print the credits every server spent per calendar month (UTC), marking what was paid "
        "with a server's own API key. Reads the database only; safe while the bot runs.",
    )
    usage.add_argument("--month", metavar="YYYY-MM", help="only this month (default: every month)")
    usage.add_argument("--csv", metavar="PATH", help="also write the table as CSV to PATH")
    commands.add_parser(
        "messages",
        help="extract the message template and update every language's catalog (for translators)",
        description="Write bot/i18n/messages.pot from the code's messages and every command's names and "
        "descriptions, then update each bot/i18n/locales/<lang>/LC_MESSAGES/messages.po (new messages get "
        "an empty translation). Needs no configuration; connects nowhere.",
    )
    return parser


def _load_settings() -> Settings | None:
    try:
        return load_settings()
    except SettingsError as exc:
        for problem in exc.problems:
            print(f"Configuration error: {problem}", file=sys.stderr)
        return None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "keygen":  # needs no configuration: it is how an owner starts one
        print(new_key())
        return EXIT_OK
    if args.command == "messages":  # a translator's tool: needs no configuration either
        for language, missing in asyncio.run(update_catalogs()).items():
            print(f"{language}: {missing} messages to translate")
        print(f"Template: {TEMPLATE}")
        return EXIT_OK
    settings = _load_settings()
    if settings is None:
        return EXIT_CONFIG
    if args.command == "check":
        return asyncio.run(run_check(settings))
    if args.command == "backup":
        return run_backup(settings, args.path)
    if args.command == "usage":
        return asyncio.run(run_usage_report(settings, args.month, args.csv))
    return run_bot(settings)


class Stopper:
    """SIGTERM (`docker stop`) and Ctrl-C: end the process within SHUTDOWN_GRACE, whatever it is doing.

    While the bot is not yet running (opening the database, waiting for Discord) there is nothing to
    finish, so the start is abandoned at once. Once it runs, it closes in order (deliveries finish,
    the listener stops, leases are handed back); if that is not over in time the run is cancelled,
    and as a last resort the process exits anyway. A second signal stops at once.
    """

    def __init__(self, main: asyncio.Task[None], grace: float) -> None:
        self.main = main
        self.grace = grace
        self.bot: MusicBot | None = None
        """Set once the bot is connecting to the gateway: from then on a stop closes it first."""
        self._stopping: asyncio.Task[None] | None = None

    def __call__(self) -> None:
        if self._stopping is not None:
            log.warning("Stopping at once (a second stop signal)")
            self.main.cancel()
            return
        log.info("Stopping (at most %g s, SHUTDOWN_GRACE)", self.grace)
        self._stopping = asyncio.ensure_future(self._stop())

    async def _stop(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.grace
        if self.bot is None:
            self.main.cancel()
        else:
            try:  # the bot's own close keeps within the grace (it hands back what it cannot finish)
                await asyncio.wait_for(asyncio.shield(self.bot.close()), max(0.1, self.grace - 0.5))
            except TimeoutError:
                log.warning("Closing took longer than SHUTDOWN_GRACE allows; stopping without finishing")
            except Exception as exc:  # a failing close must not keep the process alive
                log.error("Closing failed (%s); stopping anyway", type(exc).__name__)
        await asyncio.wait({self.main}, timeout=max(0.1, deadline - 0.25 - loop.time()))
        if not self.main.done():
            self.main.cancel()
            await asyncio.wait({self.main}, timeout=max(0.1, deadline - loop.time()))
        if not self.main.done():  # something ignored cancellation: do not outlive the grace
            log.warning("Still busy after SHUTDOWN_GRACE=%g s; exiting", self.grace)
            log.info("Stopped")
            logging.shutdown()
            os._exit(EXIT_FAILED)


async def run(settings: Settings) -> None:
    """Open the database, open the listener, wait for Discord, run the bot until it stops, close in
    reverse order."""
    if settings.discord_rest_proxy:
        use_rest_proxy(settings.discord_rest_proxy)
    problem = None if settings.database_url else database_problem(settings.database_path, create=True)
    if problem:
        raise StartupError(problem)
    main = asyncio.current_task()
    assert main is not None
    stop = Stopper(main, settings.shutdown_grace)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop)
    # The database first: a mistake there is the owner's to fix now, while waiting for Discord is not.
    try:
        repo = await wait_for_database(lambda: open_repository(settings))
    except (OSError, sqlite3.Error) as exc:
        raise StartupError(
            f"Cannot open the database {settings.database_path} as user {current_user()}: {exc}"
        ) from None
    try:
        async with aiohttp.ClientSession() as session, MusicBot(settings=settings, repo=repo, session=session) as bot:
            await bot.open_listener()  # a port in use is found now; /healthz says "starting" meanwhile
            await wait_for_discord(session, discord.http.Route.BASE)
            stop.bot = bot
            await bot.start(settings.discord_token)
    finally:
        await repo.close()


def run_bot(settings: Settings) -> int:
    """Run until stopped; every failure an owner can cause ends in one line, not a traceback."""
    hidden = [settings.discord_token, settings.producer_api_token, *database_secrets(settings.database_url)]
    hidden += [key.strip() for key in (settings.secret_key or "").split(",")]
    hidden.append(settings.discord_client_secret or "")
    hidden.append(os.environ.get("PGPASSWORD", ""))  # asyncpg's other way to the password (deploy/compose.yaml)
    setup_logging(settings.log_level, hidden, settings.log_format)
    log.info("Starting producer-discord-bot %s (discord.py %s)", __version__, discord.__version__)
    status = EXIT_OK
    try:
        asyncio.run(run(settings))
    except (StartupError, StorageError) as exc:
        log.error("%s", exc)
        status = EXIT_FAILED
    except discord.LoginFailure:
        log.error(
            "Discord rejected DISCORD_TOKEN: copy the bot token again from the developer portal (Bot → Reset Token)"
        )
        status = EXIT_FAILED
    except discord.PrivilegedIntentsRequired:
        log.error(
            "MESSAGE_CONTENT_INTENT=true but the Message Content Intent is off for this bot: enable it in the "
            "developer portal (Bot → Privileged Gateway Intents), or set MESSAGE_CONTENT_INTENT=false"
        )
        status = EXIT_FAILED
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        log.error(
            "Lost the connection to Discord while starting (%s); start the bot again", describe_network_error(exc)
        )
        status = EXIT_FAILED
    except (KeyboardInterrupt, asyncio.CancelledError):
        pass
    log.info("Stopped")
    return status


if __name__ == "__main__":
    sys.exit(main())
