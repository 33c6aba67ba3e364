"""The real bot (`python -m bot`) as a child process against the fakes, killed for real.

`BotProcess` starts the entry point as `tests/ops/test_entrypoint.py` does (discord.py's two Discord
addresses are pointed at the fake, and, as in `tests/harness.py`, it does not wait two seconds for
guilds the fake has already sent), on a SQLite file the test can open afterwards.

A crash is a real SIGKILL: no `finally`, no clean shutdown, no flush. It is sent either by the
test (`kill()`), at a moment it can observe from outside (the status line says "Generating", the
fake CDN is half-way through a download), or by the child itself at a *crash point*: the launcher
wraps one real method before the bot starts, so that the process kills itself at the exact step
no outside observer could time. The wrappers change nothing else.

A *pause point* is the same idea for a stall instead of a death: the child SIGSTOPs itself once, at
a step no outside observer could catch (after claiming a song, before sending it to the API), as a
GC pause, a VM migration or `docker pause` would stop it. The test SIGCONTs it (`resume()`) when it
wants the process to carry on from exactly there.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.cli_helpers import LAUNCH, ROOT

CRASH_POINTS = {
    "before_submit": "charged and recorded; the request to /producer/audios is never sent",
    "submitted_unrecorded": "the API accepted the request; its task id is never recorded",
    "result_stored": "the result is stored; the delivery has not started",
    "message_posted": "the song message is posted in Discord; its id is never recorded",
    "delivered_marked": "the task is marked delivered; the work after delivery (feed, jam, auto-DM) never runs",
}

PAUSE_POINTS = {
    "stalled_after_claim": "queued songs were just claimed for submission (reserved, leased, charged); the "
    "process stops itself before it does anything more with them, checks included",
}


def _die(point: str) -> None:
    os.write(2, f"CRASH POINT {point}\n".encode())
    os.kill(os.getpid(), signal.SIGKILL)


def _pause(point: str) -> None:
    os.write(2, f"PAUSE POINT {point}\n".encode())
    os.kill(os.getpid(), signal.SIGSTOP)  # returns when the test sends SIGCONT


def install_pause_point(point: str) -> None:
    """In the child: make the process SIGSTOP itself the first time it reaches `point`."""
    if point == "stalled_after_claim":
        from bot.storage.repository import Repository

        claim = Repository.promote_queued
        paused: list[bool] = []

        async def claim_then_pause(self: Repository, *args: Any, **kwargs: Any) -> Any:
            claimed = await claim(self, *args, **kwargs)
            if claimed and not paused:
                paused.append(True)
                _pause(point)
            return claimed

        Repository.promote_queued = claim_then_pause  # type: ignore[method-assign]
    else:
        raise ValueError(f"unknown pause point {point!r}; expected one of {sorted(PAUSE_POINTS)}")


def install_crash_point(point: str) -> None:
    """In the child, before the bot runs: make the process SIGKILL itself at `point` (or, for one
    of `PAUSE_POINTS`, SIGSTOP itself there once)."""
    if point in PAUSE_POINTS:
        install_pause_point(point)
    elif point == "before_submit":
        from bot.producer.client import ProducerClient

        async def never_sent(self: ProducerClient, body: dict[str, Any], **routing: Any) -> Any:
            _die(point)

        ProducerClient.submit_audio = never_sent  # type: ignore[method-assign]
    elif point == "submitted_unrecorded":
        from bot.producer.client import ProducerClient

        submit = ProducerClient.submit_audio

        async def sent_then_die(self: ProducerClient, body: dict[str, Any], **routing: Any) -> Any:
            await submit(self, body, **routing)
            _die(point)

        ProducerClient.submit_audio = sent_then_die  # type: ignore[method-assign]
    elif point == "result_stored":
        from bot.songs.service import SongService

        accept = SongService.accept_result

        async def stored_then_die(self: SongService, task_id: int, response: dict[str, Any]) -> bool:
            stored = await accept(self, task_id, response)
            if stored:
                _die(point)  # the delivery was only scheduled; it never runs
            return stored

        SongService.accept_result = stored_then_die  # type: ignore[method-assign]
        callback = SongService.accept_callback

        async def callback_stored_then_die(self: SongService, secret: str, body: dict[str, Any]) -> str:
            outcome = await callback(self, secret, body)
            if outcome == "stored":
                _die(point)
            return outcome

        SongService.accept_callback = callback_stored_then_die  # type: ignore[method-assign]
    elif point == "message_posted":
        from bot.storage.repository import Repository

        async def posted_then_die(self: Repository, *args: Any, **kwargs: Any) -> None:
            _die(point)

        Repository.set_song_message = posted_then_die  # type: ignore[method-assign]
    elif point == "delivered_marked":
        from bot.storage.repository import Repository

        mark = Repository.mark_delivered

        async def marked_then_die(self: Repository, *args: Any, **kwargs: Any) -> Any:
            outcome = await mark(self, *args, **kwargs)
            _die(point)
            return outcome

        Repository.mark_delivered = marked_then_die  # type: ignore[method-assign]
    else:
        raise ValueError(f"unknown crash point {point!r}; expected one of {sorted(CRASH_POINTS)}")


class BotProcess:
    """One `python -m bot` child at a time, on the same database and settings across restarts."""

    def __init__(self, *, discord_api: str, gateway: str, env: dict[str, str], cwd: Path) -> None:
        self._argv = [sys.executable, "-c", LAUNCH, discord_api, gateway]
        base = {key: value for key, value in os.environ.items() if not key.startswith(("DISCORD_", "PRODUCER_"))}
        self._env = {**base, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", **env}
        self._cwd = cwd
        self.process: asyncio.subprocess.Process | None = None
        self.lines: list[str] = []
        """Everything every child wrote to stderr (its log), across restarts."""
        self._reader: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self._life_start = 0

    async def start(
        self,
        *,
        crash_at: str | None = None,
        pause_at: str | None = None,
        until_crash: bool = False,
        timeout: float = 30,
    ) -> None:
        """Start the child and wait until it has logged in to the fake Discord.

        With `until_crash`, the crash point is expected to fire while the bot is still starting
        (recovering what the previous life left): wait for that instead, logged in or not.
        With `pause_at`, the child stops itself at that pause point (see `wait_paused`).
        """
        assert self.process is None or self.process.returncode is not None, "already running"
        assert crash_at is None or pause_at is None, "one crash or pause point per life"
        env = dict(self._env)
        if crash_at is not None:
            assert crash_at in CRASH_POINTS, crash_at
            env["CRASH_AT"] = crash_at
        if pause_at is not None:
            assert pause_at in PAUSE_POINTS, pause_at
            env["CRASH_AT"] = pause_at  # the launcher installs it (`install_crash_point` dispatches)
        mark = self._life_start = len(self.lines)
        self.process = await asyncio.create_subprocess_exec(
            *self._argv, cwd=self._cwd, env=env, stderr=asyncio.subprocess.PIPE
        )
        self._reader = asyncio.create_task(self._read(self.process))
        if until_crash:
            assert crash_at is not None
            await self.wait_crashed(crash_at, timeout=timeout)
            return
        await self.wait_for_log(lambda line: "Logged in as" in line, timeout=timeout, since=mark)

    async def _read(self, process: asyncio.subprocess.Process) -> None:
        assert process.stderr is not None
        while line := await process.stderr.readline():
            self.lines.append(line.decode(errors="replace"))
            self._changed.set()
        self._changed.set()

    async def wait_for_log(self, predicate: Callable[[str], bool], *, timeout: float = 20, since: int = 0) -> str:
        async with asyncio.timeout(timeout):
            while True:
                self._changed.clear()
                for line in self.lines[since:]:
                    if predicate(line):
                        return line
                if self.process is not None and self.process.returncode is not None and self._reader_done():
                    raise AssertionError("the bot exited:\n" + self.output)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 0.5)

    def _reader_done(self) -> bool:
        return self._reader is None or self._reader.done()

    async def wait_crashed(self, point: str, timeout: float = 20) -> None:
        """Wait for the child to die of its own SIGKILL at `point`."""
        assert self.process is not None
        returncode = await asyncio.wait_for(self.process.wait(), timeout)
        if self._reader is not None:
            await self._reader
        assert returncode == -signal.SIGKILL, f"exit {returncode}\n{self.output}"
        assert f"CRASH POINT {point}\n" in self.lines[self._life_start :], self.output

    @property
    def env(self) -> dict[str, str]:
        """The environment every life of this child starts with (its settings)."""
        return self._env

    @property
    def pid(self) -> int:
        assert self.process is not None and self.process.returncode is None, "not running"
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def pause(self) -> None:
        """SIGSTOP from outside: the process stalls where it is (sockets open, nothing runs)."""
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT: a paused process carries on from where it stopped."""
        os.kill(self.pid, signal.SIGCONT)

    def is_paused(self) -> bool:
        """Whether the kernel has the process stopped (state T in /proc/<pid>/stat)."""
        if not self.running:
            return False
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return False
        return stat.rsplit(")", 1)[1].split()[0] in {"T", "t"}

    async def wait_paused(self, point: str, timeout: float = 20) -> None:
        """Wait for the child to stop itself at pause point `point`."""
        await self.wait_for_log(lambda line: line == f"PAUSE POINT {point}\n", timeout=timeout, since=self._life_start)
        async with asyncio.timeout(timeout):
            while not self.is_paused():  # noqa: ASYNC110 - the kernel's state, no event to wait on
                await asyncio.sleep(0.02)

    async def kill(self) -> None:
        """SIGKILL from outside, now."""
        assert self.process is not None and self.process.returncode is None
        self.process.send_signal(signal.SIGKILL)
        assert await self.process.wait() == -signal.SIGKILL
        if self._reader is not None:
            await self._reader

    async def stop(self) -> None:
        """SIGTERM: the clean shutdown `docker stop` uses."""
        if self.process is None or self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), 30)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
        if self._reader is not None:
            await self._reader

    @property
    def output(self) -> str:
        return "".join(self.lines)
