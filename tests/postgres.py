"""A throwaway PostgreSQL for the tests: one server per test session, one fresh database per test.

The server is Debian's PostgreSQL (`/usr/lib/postgresql/<version>/bin`), started by the tests
themselves on a temporary directory and a free port, with durability off (`fsync=off`): nothing in
it outlives the session. `initdb` and `pg_ctl` refuse to run as root, so as root they run as the
`postgres` user (`runuser`). Set `TEST_POSTGRES_URL=postgresql://user@host:port/db` to use a
server you run instead (the user must be allowed to create databases).

Each test that asks gets its own database, copied from a template that already has every migration
applied (`CREATE DATABASE … TEMPLATE …` copies files, far faster than migrating anew). Under
pytest-xdist every worker is its own process and so starts its own server.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from tests.harness import free_port

BACKENDS = ("sqlite", "postgres")
both_backends = pytest.mark.parametrize("backend", BACKENDS, indirect=True)
"""Run a test once on SQLite and once on PostgreSQL (the test or its fixtures use `backend`)."""


def find_bin() -> Path | None:
    """The folder with `initdb` and `pg_ctl`: $PG_BIN, Debian's newest version, or the PATH."""
    if os.environ.get("PG_BIN"):
        return Path(os.environ["PG_BIN"])
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda path: int(path.parent.parent.name), reverse=True
    )
    if versions:
        return versions[0].parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def with_database(url: str, name: str) -> str:
    """`url` pointing at database `name` instead."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


@dataclass
class PostgresServer:
    """A running server (started here or given by TEST_POSTGRES_URL) and its migrated template."""

    admin_url: str
    prefix: str
    directory: Path | None = None
    bin: Path | None = None
    options: str = ""
    """The server's command-line options, so a fault test can stop and start it again."""
    template: str = ""
    _names: Iterator[int] = field(default_factory=itertools.count)
    _worker: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="pg-test"))
    _next: Future[str] | None = None

    @classmethod
    def start(cls) -> PostgresServer:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        prefix = f"bot_test_{worker}_{os.getpid()}"
        given = os.environ.get("TEST_POSTGRES_URL", "").strip()
        return (cls(admin_url=given, prefix=prefix) if given else cls._start_local(prefix))._with_template()

    @classmethod
    def start_private(cls, prefix: str) -> PostgresServer:
        """A server of its own (never TEST_POSTGRES_URL's), which a fault test may stop and restart."""
        return cls._start_local(prefix)._with_template()

    def _with_template(self) -> PostgresServer:
        """Make the migrated template the tests' databases are copied from (stopping the server if
        that fails, so no server outlives a failed start)."""
        try:
            self.template = f"{self.prefix}_template"
            _run_async(self._make_template())
        except BaseException:
            self.stop()
            raise
        return self

    @classmethod
    def _start_local(cls, prefix: str) -> PostgresServer:
        bin_dir = find_bin()
        if bin_dir is None or not (bin_dir / "initdb").exists():
            pytest.fail(
                "PostgreSQL is not installed: ./test.sh installs it (apt-get install postgresql), "
                "or set TEST_POSTGRES_URL to a server you run.",
                pytrace=False,
            )
        directory = Path(tempfile.mkdtemp(prefix="bot-test-pg-"))
        as_user = _as_postgres_user()
        if as_user:
            shutil.chown(directory, user="postgres", group="postgres")
        data = directory / "data"
        port = free_port()
        subprocess.run(
            [*as_user, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"],
            check=True,
            capture_output=True,
        )
        options = (
            f"-k {directory} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=300 -c shared_buffers=32MB"
        )
        log = str(directory / "log")
        subprocess.run(
            [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", log, "-w", "start"],
            check=True,
            capture_output=True,
        )
        url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        return cls(admin_url=url, prefix=prefix, directory=directory, bin=bin_dir, options=options)

    def pg_ctl(self, *args: str) -> None:
        """Run `pg_ctl` on this server (one started here): `stop -m fast`, `start`, `restart -m fast`."""
        assert self.directory is not None and self.bin is not None, "only a server started by the tests"
        data = str(self.directory / "data")
        log = str(self.directory / "log")
        command = [*_as_postgres_user(), str(self.bin / "pg_ctl"), "-D", data, "-l", log, "-w"]
        if args[0] in ("start", "restart"):
            command += ["-o", self.options]
        subprocess.run([*command, *args], check=True, capture_output=True)

    async def terminate_connections(self, url: str) -> int:
        """Kill every connection to `url`'s database but this one (`pg_terminate_backend`); how many."""
        name = urlsplit(url).path.lstrip("/")
        conn = await asyncpg.connect(self.admin_url)
        try:
            rows = await conn.fetch(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                name,
            )
        finally:
            await conn.close()
        return len(rows)

    def stop(self) -> None:
        """Stop a server started here and delete its files (a given server only loses our databases)."""
        self._worker.shutdown(wait=True)
        if self.directory is None:
            with contextlib.suppress(Exception):
                _run_async(self._drop_all())
            return
        assert self.bin is not None
        data = str(self.directory / "data")
        subprocess.run(
            [*_as_postgres_user(), str(self.bin / "pg_ctl"), "-D", data, "-m", "immediate", "stop"],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(self.directory, ignore_errors=True)

    async def _make_template(self) -> None:
        from bot.storage import Repository

        conn = await asyncpg.connect(self.admin_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{self.template}"')
            await conn.execute(f'CREATE DATABASE "{self.template}"')
        finally:
            await conn.close()
        repo = await Repository.connect(with_database(self.admin_url, self.template))
        await repo.close()

    def create_database(self) -> str:
        """A fresh, migrated database for one test; its URL.

        Copying the template takes a moment on a busy machine, so the next test's database is
        made in the background while this test runs, and dropping happens in the background too.
        """
        ready = self._next or self._worker.submit(lambda: _run_async(self._create_database()))
        self._next = self._worker.submit(lambda: _run_async(self._create_database()))
        return ready.result()

    def drop_database(self, url: str) -> None:
        self._worker.submit(lambda: _run_async(self._drop_database(url)))

    async def _create_database(self) -> str:
        name = f"{self.prefix}_{next(self._names)}"
        conn = await asyncpg.connect(self.admin_url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        finally:
            await conn.close()
        return with_database(self.admin_url, name)

    async def _drop_database(self, url: str) -> None:
        name = urlsplit(url).path.lstrip("/")
        conn = await asyncpg.connect(self.admin_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    async def _drop_all(self) -> None:
        conn = await asyncpg.connect(self.admin_url)
        try:
            names = await conn.fetch("SELECT datname FROM pg_database WHERE datname LIKE $1", f"{self.prefix}%")
            for row in names:
                await conn.execute(f'DROP DATABASE IF EXISTS "{row[0]}" WITH (FORCE)')
        finally:
            await conn.close()


def _as_postgres_user() -> list[str]:
    """`runuser -u postgres --` when running as root (initdb refuses root), else nothing."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


T = TypeVar("T")


def _run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from synchronous code, even inside a running event loop (a
    fixture set up for an async test): on its own loop in a helper thread."""
    results: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            results.append(asyncio.run(coro))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return results[0]
