"""The README's backup recipes as an owner types them (issue 20, item 5)."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
from pathlib import Path

from bot.storage.repository import Repository
from tests.cli_helpers import ROOT, child_env, run_cli
from tests.ops.test_cli import clean, fake_venv


async def a_database(path: Path) -> Path:
    await (await Repository.open(path)).close()
    return path


async def test_backup_into_a_folder_twice_gives_two_dated_files(tmp_path: Path) -> None:
    """`backup backups/` creates the folder and writes a new dated file each run, never a file named `backups`."""
    database = await a_database(tmp_path / "data" / "bot.db")
    env = child_env(DISCORD_TOKEN="d", PRODUCER_API_TOKEN="p", DATABASE_PATH=str(database))
    first = await run_cli("backup", "backups/", cwd=tmp_path, env=env)
    second = await run_cli("backup", "backups/", cwd=tmp_path, env=env)
    assert (first.returncode, second.returncode) == (0, 0), first.output + second.output
    folder = tmp_path / "backups"
    assert folder.is_dir()
    copies = sorted(folder.iterdir())
    assert len(copies) == 2 and all(copy.name.startswith("bot-") and copy.suffix == ".db" for copy in copies)
    for copy in copies:
        with sqlite3.connect(copy) as connection:
            assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert "delete bot.db-wal and bot.db-shm beside it if they exist" in first.stdout
    clean(first.output + second.output)


async def test_an_existing_folder_without_a_slash_is_still_a_folder(tmp_path: Path) -> None:
    database = await a_database(tmp_path / "bot.db")
    (tmp_path / "nightly").mkdir()
    env = child_env(DISCORD_TOKEN="d", PRODUCER_API_TOKEN="p", DATABASE_PATH=str(database))
    result = await run_cli("backup", "nightly", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.output
    (copy,) = (tmp_path / "nightly").iterdir()
    assert copy.name.startswith("bot-")


def test_run_sh_backup_path_is_relative_to_where_it_was_run(tmp_path: Path) -> None:
    """`/srv/bot/run.sh backup backups/` from cron's home folder writes there, not into the bot's folder."""
    database = asyncio.run(a_database(tmp_path / "data" / "bot.db"))
    elsewhere = tmp_path / "cron-home"
    elsewhere.mkdir()
    env = child_env(
        VENV=str(fake_venv(tmp_path)), DISCORD_TOKEN="d", PRODUCER_API_TOKEN="p", DATABASE_PATH=str(database)
    )
    folder = f"backups-{tmp_path.name}"  # a name of its own, should it land in the checkout
    result = subprocess.run(
        ["sh", str(ROOT / "run.sh"), "backup", f"{folder}/"], cwd=elsewhere, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    (copy,) = (elsewhere / folder).iterdir()
    assert copy.name.startswith("bot-")
    assert not (ROOT / folder).exists()
