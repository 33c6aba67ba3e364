"""The command line as an owner uses it: real `python -m bot` processes, their exit status and output.

Every test also checks what must never appear: a traceback, or a token.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from bot import __version__
from bot.ops.check import latest_migration
from bot.storage.repository import Repository
from tests.cli_helpers import ROOT, Child, child_env, run_cli
from tests.conftest import PRODUCER_TOKEN
from tests.fakes.fake_discord import FakeDiscord
from tests.fakes.fake_producer import FakeProducer
from tests.harness import free_port

DISCORD_TOKEN = "cli-discord-token-0123456789"


@pytest.fixture
async def discord_fake() -> AsyncIterator[FakeDiscord]:
    fake = FakeDiscord(token=DISCORD_TOKEN)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()


def clean(output: str, *secrets: str) -> None:
    """No traceback and no secret in what the owner sees."""
    assert "Traceback" not in output, output
    for secret in (DISCORD_TOKEN, PRODUCER_TOKEN, *secrets):
        assert secret not in output, output


def configured(producer: FakeProducer, tmp_path: Path, **extra: str) -> dict[str, str]:
    settings = {
        "DISCORD_TOKEN": DISCORD_TOKEN,
        "PRODUCER_API_TOKEN": PRODUCER_TOKEN,
        "PRODUCER_API_BASE": producer.base_url,
        "DATABASE_PATH": str(tmp_path / "data" / "bot.db"),
        "WEBHOOK_HOST": "127.0.0.1",
        "WEBHOOK_PORT": str(free_port()),
    }
    return child_env(**{**settings, **extra})


# -- --help, --version, configuration ------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--help"], ["usage: python -m bot", "check", "backup", "Exit status"]),
        (["--version"], [f"producer-discord-bot {__version__}"]),
        (["backup", "--help"], ["usage: python -m bot backup", "PATH", "pg_dump"]),
        (["check", "--help"], ["PUBLIC_URL/healthz", "Exits 0 only when every check"]),
    ],
)
def test_help_and_version_print_and_exit_without_configuration(tmp_path: Path, args: list[str], expected: list[str]):
    """No tokens, no .env, no network: they answer and exit 0, and create nothing."""
    result = subprocess.run(
        [sys.executable, "-m", "bot", *args], cwd=tmp_path, env=child_env(), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    for text in expected:
        assert text in result.stdout
    assert result.stderr == ""
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [[], ["check"], ["backup", "copy.db"]])
def test_every_configuration_problem_is_one_line(tmp_path: Path, command: list[str]) -> None:
    """Invalid values are all reported at once, one line each, naming the value; quotes are stripped."""
    env = child_env(
        DISCORD_TOKEN='"secret-discord-value"',
        PRODUCER_API_TOKEN="",
        WEBHOOK_PORT="70000",
        LOG_LEVEL="verbose",
        DEFAULT_MODEL='"FUZZ-2.0 Pro"',
    )
    result = subprocess.run(
        [sys.executable, "-m", "bot", *command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "Configuration error: PRODUCER_API_TOKEN is not set: add it to .env or the environment (see .env.example)",
        "Configuration error: WEBHOOK_PORT must be at most 65535, got 70000",
        "Configuration error: LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR; got 'verbose'",
    ]
    clean(result.stdout + result.stderr, "secret-discord-value")


# -- check ---------------------------------------------------------------------------------------


async def test_check_passes_against_the_fakes_and_changes_nothing(
    discord_fake: FakeDiscord, producer: FakeProducer, tmp_path: Path
) -> None:
    result = await run_cli("check", cwd=tmp_path, env=configured(producer, tmp_path), discord_api=discord_fake.api_base)
    assert result.returncode == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "ok    Configuration is valid (polling mode)"
    assert lines[1].startswith("ok    Discord accepts DISCORD_TOKEN (bot user fakebot")
    assert lines[2] == f"ok    The Producer API accepts PRODUCER_API_TOKEN ({producer.base_url})"
    assert "does not exist yet; the bot creates it at its first start" in lines[3]
    assert lines[-1] == "All checks passed."
    clean(result.output)
    # Side-effect free: no database, no song, no gateway session, one free task look-up.
    assert not (tmp_path / "data").exists()
    assert producer.audio_requests == [] and discord_fake.identify_count == 0
    assert [body for _, body in producer.task_requests] == [{"action": "retrieve", "id": "token-check"}]


@pytest.mark.parametrize("service", ["discord", "producer"])
async def test_check_names_a_refused_token(
    discord_fake: FakeDiscord, producer: FakeProducer, tmp_path: Path, service: str
) -> None:
    wrong = "wrong-token-abcdef-123456"
    env = configured(producer, tmp_path, **{"DISCORD_TOKEN" if service == "discord" else "PRODUCER_API_TOKEN": wrong})
    result = await run_cli("check", cwd=tmp_path, env=env, discord_api=discord_fake.api_base)
    assert result.returncode == 1
    failures = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    expected = (
        "Discord refused DISCORD_TOKEN: copy it again from the developer portal"
        if service == "discord"
        else "The Producer API refused PRODUCER_API_TOKEN (invalid_token): copy it again"
    )
    assert len(failures) == 1 and expected in failures[0], result.output
    assert result.stdout.splitlines()[-1] == "1 check(s) failed."
    clean(result.output, wrong)


async def test_check_says_when_a_service_cannot_be_reached(producer: FakeProducer, tmp_path: Path) -> None:
    env = configured(producer, tmp_path, PRODUCER_API_BASE=f"http://127.0.0.1:{free_port()}")
    result = await run_cli("check", cwd=tmp_path, env=env, discord_api=f"http://127.0.0.1:{free_port()}/api/v10")
    assert result.returncode == 1
    assert "FAIL  Cannot reach Discord (cannot connect" in result.stdout
    assert "FAIL  Cannot reach the Producer API at http://127.0.0.1:" in result.stdout
    clean(result.output)


async def test_check_compares_the_database_migrations(
    discord_fake: FakeDiscord, producer: FakeProducer, tmp_path: Path
) -> None:
    database = tmp_path / "data" / "bot.db"
    await (await Repository.open(database)).close()
    env = configured(producer, tmp_path)
    current = await run_cli("check", cwd=tmp_path, env=env, discord_api=discord_fake.api_base)
    assert current.returncode == 0, current.output
    assert f"ok    Database {database} opens and its migrations are current ({latest_migration():04d})" in (
        current.stdout
    )

    with sqlite3.connect(database) as connection:  # as if this version brought migration 0004 new
        connection.execute("DELETE FROM schema_migrations WHERE version = 4")
    behind = await run_cli("check", cwd=tmp_path, env=env, discord_api=discord_fake.api_base)
    assert behind.returncode == 1
    assert f"FAIL  Database {database} is missing migration(s) 0004. Back it up" in behind.stdout
    assert "start the bot once" in behind.stdout
    clean(behind.output)


async def test_check_on_postgresql(
    discord_fake: FakeDiscord, producer: FakeProducer, tmp_path: Path, postgres_url: str
) -> None:
    """DATABASE_URL: the same check through one read-only connection; the URL is never printed."""
    env = configured(producer, tmp_path, DATABASE_URL=postgres_url)
    current = await run_cli("check", cwd=tmp_path, env=env, discord_api=discord_fake.api_base)
    assert current.returncode == 0, current.output
    assert (
        f"ok    PostgreSQL (DATABASE_URL) opens and its migrations are current ({latest_migration('postgres'):04d})"
        in (current.stdout)
    )
    assert not (tmp_path / "data").exists()  # DATABASE_PATH is not touched

    connection = await asyncpg.connect(postgres_url)
    try:
        await connection.execute("DELETE FROM schema_migrations WHERE version = 4")
    finally:
        await connection.close()
    behind = await run_cli("check", cwd=tmp_path, env=env, discord_api=discord_fake.api_base)
    assert behind.returncode == 1
    assert "FAIL  PostgreSQL (DATABASE_URL) is missing migration(s) 0004" in behind.stdout

    port = free_port()
    env["DATABASE_URL"] = f"postgresql://bot:hunter2-password@127.0.0.1:{port}/bot"
    unreachable = await run_cli("check", cwd=tmp_path, env=env, discord_api=discord_fake.api_base)
    assert unreachable.returncode == 1
    assert f"FAIL  Cannot connect to PostgreSQL at 127.0.0.1:{port} (DATABASE_URL): " in unreachable.stdout
    clean(current.output + behind.output + unreachable.output, "hunter2-password", postgres_url)


async def test_check_tries_the_public_url_in_callback_mode(
    discord_fake: FakeDiscord, producer: FakeProducer, tmp_path: Path
) -> None:
    port = free_port()
    env = configured(producer, tmp_path, WEBHOOK_PORT=str(port), PUBLIC_URL=f"http://127.0.0.1:{port}")
    reached = await run_cli("check", cwd=tmp_path, env=env, discord_api=discord_fake.api_base)
    assert reached.returncode == 0, reached.output
    assert f"ok    http://127.0.0.1:{port}/healthz reaches this listener" in reached.stdout

    # A PUBLIC_URL that leads somewhere else (here: the Producer fake) is caught.
    env["PUBLIC_URL"] = producer.base_url
    elsewhere = await run_cli("check", cwd=tmp_path, env=env, discord_api=discord_fake.api_base)
    assert elsewhere.returncode == 1
    assert f"FAIL  {producer.base_url}/healthz answered HTTP 404 but not from this listener (port {port}" in (
        elsewhere.stdout
    )
    clean(elsewhere.output)


# -- backup --------------------------------------------------------------------------------------

WRITER = """
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
connection.execute("PRAGMA journal_mode=WAL")
n = 0
while True:
    n += 1
    connection.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (f"row-{n}", "x" * 500))
    if n == 200:
        print("writing", flush=True)  # 200 rows in, and going on
"""


async def test_backup_of_a_database_being_written_opens_and_verifies(tmp_path: Path) -> None:
    """A writer inserts as fast as it can while `backup` runs; the copy is whole and opens as the bot's."""
    database = tmp_path / "data" / "bot.db"
    repo = await Repository.open(database)
    await repo.set_meta("command_hash", "before-the-backup")
    await repo.close()
    writer = await asyncio.create_subprocess_exec(
        sys.executable, "-c", WRITER, str(database), stdout=asyncio.subprocess.PIPE
    )
    try:
        assert writer.stdout is not None
        assert await asyncio.wait_for(writer.stdout.readline(), 30) == b"writing\n"
        backups = tmp_path / "backups"
        backups.mkdir()
        env = child_env(DISCORD_TOKEN="d", PRODUCER_API_TOKEN="p", DATABASE_PATH=str(database))
        result = await run_cli("backup", str(backups), cwd=tmp_path, env=env)
        with sqlite3.connect(database) as connection:
            rows_after = connection.execute("SELECT count(*) FROM meta").fetchone()[0]
    finally:
        writer.kill()
        await writer.wait()
    assert result.returncode == 0, result.output
    (copy,) = backups.iterdir()
    assert copy.name.startswith("bot-") and copy.suffix == ".db"
    assert result.stdout.startswith(f"Backed up {database} to {copy} (")
    assert f"migration {latest_migration()}, integrity ok" in result.stdout and "To restore" in result.stdout
    assert sorted(path.name for path in backups.iterdir()) == [copy.name]  # one file: no -wal, no .partial
    clean(result.output)

    with sqlite3.connect(f"{copy.as_uri()}?mode=ro", uri=True) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        copied = connection.execute("SELECT count(*) FROM meta WHERE key LIKE 'row-%'").fetchone()[0]
    assert 200 <= copied <= rows_after
    restored = await Repository.open(copy)
    try:
        assert await restored.get_meta("command_hash") == "before-the-backup"
        assert await restored.get_meta(f"row-{copied}") == "x" * 500
        assert await restored.get_meta(f"row-{copied + 1}") is None  # a snapshot: rows up to one instant
    finally:
        await restored.close()


def test_backup_on_postgresql_prints_the_pg_dump_command(tmp_path: Path) -> None:
    env = child_env(
        DISCORD_TOKEN="d", PRODUCER_API_TOKEN="p", DATABASE_URL="postgresql://bot:hunter2-password@db:5432/bot"
    )
    result = subprocess.run(
        [sys.executable, "-m", "bot", "backup", "bot dump.pgc"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "  pg_dump --format=custom --file='bot dump.pgc' \"$DATABASE_URL\"" in result.stdout
    assert "pg_restore --clean --if-exists --no-owner --dbname=\"$DATABASE_URL\" 'bot dump.pgc'" in result.stdout
    clean(result.stdout + result.stderr, "hunter2-password")
    assert list(tmp_path.iterdir()) == []


async def test_backup_refuses_what_it_cannot_do_in_one_line(tmp_path: Path) -> None:
    env = child_env(DISCORD_TOKEN="d", PRODUCER_API_TOKEN="p", DATABASE_PATH=str(tmp_path / "missing.db"))
    missing = await run_cli("backup", str(tmp_path / "copy.db"), cwd=tmp_path, env=env)
    assert missing.returncode == 1
    assert missing.stderr.splitlines() == [
        f"Backup failed: there is no database at {tmp_path / 'missing.db'} (DATABASE_PATH) to back up."
    ]
    database = tmp_path / "bot.db"
    await (await Repository.open(database)).close()
    (tmp_path / "taken.db").write_text("precious")
    env["DATABASE_PATH"] = str(database)
    taken = await run_cli("backup", str(tmp_path / "taken.db"), cwd=tmp_path, env=env)
    assert taken.returncode == 1
    assert taken.stderr.splitlines() == [
        f"Backup failed: {tmp_path / 'taken.db'} already exists; choose a new name or a folder."
    ]
    assert (tmp_path / "taken.db").read_text() == "precious"
    clean(missing.output + taken.output)


# -- run.sh --------------------------------------------------------------------------------------


def fake_venv(tmp_path: Path) -> Path:
    """A stand-in .venv for run.sh: its python is this test's, and it counts as installed."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin" / "python"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    digest = subprocess.run(["sha256sum"], input=(ROOT / "pyproject.toml").read_bytes(), capture_output=True)
    (venv / ".installed").write_text(digest.stdout.decode().split()[0] + "\n")
    return venv


def test_run_sh_checks_for_configuration_before_installing(tmp_path: Path) -> None:
    venv = tmp_path / "never-created"
    result = subprocess.run(
        ["sh", str(ROOT / "run.sh"), "check"],
        env=child_env(VENV=str(venv)),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    if (ROOT / ".env").exists():
        pytest.skip("this checkout has a .env, so run.sh is configured")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "No configuration: copy .env.example to .env and fill in DISCORD_TOKEN and PRODUCER_API_TOKEN, "
        "or set both in the environment."
    ]
    assert not venv.exists()


def test_run_sh_passes_arguments_with_the_configuration_in_the_environment(tmp_path: Path) -> None:
    venv = fake_venv(tmp_path)
    env = child_env(VENV=str(venv), DISCORD_TOKEN="d", PRODUCER_API_TOKEN="p")
    version = subprocess.run(["sh", str(ROOT / "run.sh"), "--version"], env=env, capture_output=True, text=True)
    assert (version.returncode, version.stdout) == (0, f"producer-discord-bot {__version__}\n"), version.stderr
    env["WEBHOOK_PORT"] = "70000"  # proves the variables reach the bot without a .env
    invalid = subprocess.run(["sh", str(ROOT / "run.sh"), "check"], env=env, capture_output=True, text=True)
    assert invalid.returncode == 2
    assert invalid.stderr.splitlines() == ["Configuration error: WEBHOOK_PORT must be at most 65535, got 70000"]


# -- failures at start ---------------------------------------------------------------------------


async def test_port_in_use_is_one_line_naming_the_port(
    discord_fake: FakeDiscord, producer: FakeProducer, tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = configured(producer, tmp_path, WEBHOOK_PORT=str(port))
        result = await run_cli(cwd=tmp_path, env=env, discord_api=discord_fake.api_base)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1
    assert errors[0].endswith(
        f"Port {port} is already in use (WEBHOOK_PORT={port}): stop the program using it, or set WEBHOOK_PORT "
        "to a free port."
    )
    assert f"producer-discord-bot {__version__}" in result.stderr and result.stderr.rstrip().endswith("Stopped")
    clean(result.output)


async def test_unwritable_database_names_the_path_and_the_user(
    discord_fake: FakeDiscord, producer: FakeProducer, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    env = configured(producer, tmp_path, DATABASE_PATH=str(blocker / "bot.db"))
    result = await run_cli(cwd=tmp_path, env=env, discord_api=discord_fake.api_base)
    assert result.returncode == 1
    assert f"Cannot create the database folder {blocker}: {blocker} is a file" in result.stderr
    clean(result.output)

    if os.geteuid() == 0:
        return  # root may write anywhere; the permission case needs an ordinary user
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    env["DATABASE_PATH"] = str(locked / "bot.db")
    result = await run_cli(cwd=tmp_path, env=env, discord_api=discord_fake.api_base)
    assert result.returncode == 1
    assert f"Cannot write the database {locked / 'bot.db'} as user " in result.stderr
    assert f"(uid {os.getuid()})" in result.stderr
    clean(result.output)


async def test_read_only_filesystem_names_the_path_and_the_user(
    discord_fake: FakeDiscord, producer: FakeProducer, tmp_path: Path
) -> None:
    """Even root cannot write under /sys: the line names the path and who tried."""
    target = Path("/sys/musicbot/bot.db")
    if os.access("/sys", os.W_OK) and os.geteuid() != 0:
        pytest.skip("/sys is writable here")
    env = configured(producer, tmp_path, DATABASE_PATH=str(target))
    result = await run_cli(cwd=tmp_path, env=env, discord_api=discord_fake.api_base)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and "/sys/musicbot" in errors[0] and "(uid " in errors[0], result.stderr
    clean(result.output)


async def test_unreachable_discord_is_retried_with_backoff_not_fatal(producer: FakeProducer, tmp_path: Path) -> None:
    """A network that is not up yet: the bot says so and keeps trying; SIGTERM still stops it cleanly."""
    nowhere = f"http://127.0.0.1:{free_port()}/api/v10"
    bot = Child(cwd=tmp_path, env=configured(producer, tmp_path), discord_api=nowhere, gateway="ws://127.0.0.1:9/")
    await bot.start()
    try:
        line = await bot.wait_for("Cannot reach Discord (cannot connect")
        assert line.rstrip().endswith("retrying in 2 s")
        assert bot.process is not None and bot.process.returncode is None
    finally:
        code = await bot.stop()
    assert code == 0
    assert bot.lines[-1].rstrip().endswith("Stopped")
    clean(bot.output)


async def test_json_logs_from_start_to_stop(discord_fake: FakeDiscord, producer: FakeProducer, tmp_path: Path) -> None:
    """LOG_FORMAT=json: every line one JSON object; the version first, "Stopped" last."""
    discord_fake.add_guild("Home")
    env = configured(producer, tmp_path, LOG_FORMAT="json")
    bot = Child(cwd=tmp_path, env=env, discord_api=discord_fake.api_base, gateway=discord_fake.gateway_url)
    await bot.start()
    try:
        await bot.wait_for("The Producer API accepts PRODUCER_API_TOKEN")
        await bot.wait_for("Logged in as")
    finally:
        assert await bot.stop() == 0
    entries = [json.loads(line) for line in bot.lines]
    assert set(entries[0]) == {"time", "level", "logger", "message"}
    assert entries[0]["message"].startswith(f"Starting producer-discord-bot {__version__} (discord.py ")
    assert entries[-1]["message"] == "Stopped" and entries[-1]["level"] == "INFO"
    assert not any(entry["level"] in {"ERROR", "CRITICAL"} for entry in entries), bot.output
    clean(bot.output)
