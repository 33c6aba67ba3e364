"""`python -m bot backup PATH`: a consistent copy of the database, safe while the bot runs.

On PostgreSQL (`DATABASE_URL`) it prints the `pg_dump` command to use instead.

SQLite's online backup API copies a snapshot of the whole database in one step: the bot keeps
writing (WAL mode lets readers and the writer proceed together), and the copy is exactly the
database as it was at one instant, never a file caught half-written as `cp` can be. The copy is
then checked (`PRAGMA integrity_check`) and made a single self-contained file before it is moved
into place, so a backup that exists is a backup that opens.
"""

from __future__ import annotations

import datetime as dt
import os
import shlex
import sqlite3
import sys
from pathlib import Path

from bot.core.settings import Settings


def backup_target(path: str, now: dt.datetime) -> Path:
    """A folder (one that exists, or any path ending in `/`) gets a new dated file inside it, created
    if need be, so the same command can run every day; anything else is the file to write."""
    target = Path(path)
    if not (path.endswith(("/", os.sep)) or target.is_dir()):
        return target
    target.mkdir(parents=True, exist_ok=True)
    stem = f"bot-{now.strftime('%Y%m%d-%H%M%S')}"
    candidate, number = target / f"{stem}.db", 1
    while candidate.exists():  # two runs in one second (a retry, a test) still get two files
        number += 1
        candidate = target / f"{stem}-{number}.db"
    return candidate


def backup_sqlite(source: Path, target: Path) -> tuple[int, int]:
    """Copy `source` to `target` (which must not exist); returns (bytes, migration number)."""
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    reader = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    try:
        writer = sqlite3.connect(partial)
        try:
            reader.backup(writer)  # all pages in one step: one snapshot, however busy the bot is
            writer.execute("PRAGMA journal_mode=DELETE")  # one file, no -wal beside it
            verdict = writer.execute("PRAGMA integrity_check").fetchone()[0]
            version = int(writer.execute("PRAGMA user_version").fetchone()[0])
        finally:
            writer.close()
    finally:
        reader.close()
    if verdict != "ok":
        partial.unlink(missing_ok=True)
        raise sqlite3.DatabaseError(f"the copy failed its integrity check ({verdict})")
    os.replace(partial, target)
    return target.stat().st_size, version


def postgres_instructions(path: str) -> str:
    """PostgreSQL has its own consistent online dump; the URL is referred to, never printed (it may
    hold a password)."""
    target = shlex.quote(path)
    return (
        "The database is PostgreSQL (DATABASE_URL). Back it up with pg_dump, which takes a consistent snapshot "
        "while the bot runs:\n"
        f'  pg_dump --format=custom --file={target} "$DATABASE_URL"\n'
        "Restore it (bot stopped) with:\n"
        f'  pg_restore --clean --if-exists --no-owner --dbname="$DATABASE_URL" {target}'
    )


def run_backup(settings: Settings, path: str) -> int:
    """The command: one line on success (where, how big, how to restore), one line on failure."""
    if settings.database_url:
        print(postgres_instructions(path))
        return 0
    source = settings.database_path
    if not source.is_file():
        print(f"Backup failed: there is no database at {source} (DATABASE_PATH) to back up.", file=sys.stderr)
        return 1
    try:
        target = backup_target(path, dt.datetime.now(dt.UTC))
    except OSError as exc:
        print(f"Backup failed: cannot create the folder {path}: {exc.strerror or exc}.", file=sys.stderr)
        return 1
    if target.exists():
        print(f"Backup failed: {target} already exists; choose a new name or a folder.", file=sys.stderr)
        return 1
    if not target.parent.is_dir():
        print(f"Backup failed: the folder {target.parent} does not exist.", file=sys.stderr)
        return 1
    if target.resolve() == source.resolve():
        print("Backup failed: PATH is the database itself.", file=sys.stderr)
        return 1
    try:
        size, version = backup_sqlite(source, target)
    except (sqlite3.Error, OSError) as exc:
        print(f"Backup failed: {exc}", file=sys.stderr)
        return 1
    print(
        f"Backed up {source} to {target} ({size / 1024:.0f} KiB, migration {version}, integrity ok). "
        f"To restore: stop the bot, copy it to {source}, delete {source.name}-wal and {source.name}-shm beside it "
        "if they exist, start the bot."
    )
    return 0
