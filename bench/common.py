"""Shared pieces of the benchmarks: statistics, result rows, bench variants of the fakes, child processes.

The bot under test runs in its own process (`python -m bench.child ...`) while the fakes run in the
benchmark's process, so the bot's event loop carries only the bot's work, as in production, and
the two processes can use the two cores of a small machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
import os
import re
import signal
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.fakes.fake_discord import FakeDiscord, _Body
from tests.fakes.fake_producer import FakeProducer

REPO = Path(__file__).resolve().parent.parent
PRODUCER_TOKEN = "bench-producer-token-0123456789"
MIB = 1024 * 1024


# -- numbers -----------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100): the value at or below which q % of samples fall."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def mb(n_bytes: float) -> str:
    return f"{n_bytes / MIB:.1f} MB"


@dataclass
class Row:
    """One line of the results table. `ratio` is value / baseline; `met` is None when there is no target."""

    metric: str
    value: str
    baseline: str = "–"
    ratio: float | None = None
    target: str = "report"
    met: bool | None = None

    def cells(self) -> list[str]:
        ratio = "–" if self.ratio is None or math.isnan(self.ratio) else f"{self.ratio:.2f}×"
        met = {True: "yes", False: "**NO**", None: "–"}[self.met]
        return [self.metric, self.value, self.baseline, ratio, self.target, met]


@dataclass
class Section:
    """What one benchmark module returns: its rows plus free-text notes for results.md."""

    name: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


# -- fakes tuned for benchmarks ----------------------------------------------------------------


class Blob:
    """Stands in for an uploaded file's bytes: its length and sha256, without keeping 8 MiB around."""

    __slots__ = ("digest", "size")

    def __init__(self, size: int, digest: str) -> None:
        self.size = size
        self.digest = digest

    def __len__(self) -> int:
        return self.size


class BenchDiscord(FakeDiscord):
    """The tests' FakeDiscord plus what benchmarks need.

    * `callback_at[interaction_id]`: when the bot's first interaction callback arrived (monotonic).
    * Uploaded files are hashed while streaming in and stored as `Blob`s, so a hundred 8 MiB
      uploads do not make the fake itself hold 800 MiB.
    * `discord_headers=True`: message posts to a rate-limited channel carry the X-RateLimit-*
      headers real Discord sends on *every* response (the plain fake sends them only with a 429),
      so discord.py's client paces itself the way it does in production.
    * `posted_at`: when each message post to a channel was accepted.
    """

    def __init__(self, *, discord_headers: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.discord_headers = discord_headers
        self.callback_at: dict[int, float] = {}
        self.posted_at: dict[int, list[float]] = {}

    async def _interaction_callback(self, request: web.Request, body: _Body, iid: str, token: str) -> Any:
        self.callback_at.setdefault(int(iid), time.monotonic())
        return await super()._interaction_callback(request, body, iid, token)

    async def _post_message(self, request: web.Request, body: _Body, cid: str) -> Any:
        payload = await super()._post_message(request, body, cid)
        channel = self.channels[int(cid)]
        now = time.monotonic()
        self.posted_at.setdefault(channel.id, []).append(now)
        if not (self.discord_headers and channel.rate_limit):
            return payload
        limit, window = channel.rate_limit
        reset_after = max(0.0, window - (now - channel.sent_at[0])) if channel.sent_at else 0.0
        headers = {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(max(0, limit - len(channel.sent_at))),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": "fakebucket",  # the bucket the fake's 429s name
        }
        return self._json(payload, headers=headers)

    @staticmethod
    async def _read_body(request: web.Request) -> _Body:
        if not request.content_type.startswith("multipart/"):
            return await FakeDiscord._read_body(request)
        payload: Any = None
        files: dict[int, tuple[str, Any]] = {}
        reader = await request.multipart()
        async for part in reader:
            name = part.name or ""  # type: ignore[union-attr]
            if name == "payload_json":
                payload = json.loads(bytes(await part.read()))  # type: ignore[union-attr]
            elif match := re.fullmatch(r"files\[(\d+)\]", name):
                digest, size = hashlib.sha256(), 0
                while chunk := await part.read_chunk(256 * 1024):  # type: ignore[union-attr]
                    digest.update(chunk)
                    size += len(chunk)
                files[int(match[1])] = (part.filename or "file", Blob(size, digest.hexdigest()))  # type: ignore[union-attr]
            else:
                await part.read()  # type: ignore[union-attr]
        return _Body(payload, files)  # type: ignore[arg-type]


class BenchProducer(FakeProducer):
    """FakeProducer whose finished songs can all serve one shared in-memory file (`shared_audio`).

    The plain fake builds each file's bytes per request; for a hundred concurrent 8 MiB downloads
    that would cost the benchmark process 800 MiB. Sharing one buffer keeps the fakes' memory and CPU
    out of the measurement.
    """

    shared_audio: bytes | None = None

    def _song_item(self, task: Any) -> dict[str, Any]:
        item = super()._song_item(task)
        if self.shared_audio is not None:
            self.set_media(f"{item['id']}.mp3", self.shared_audio, "audio/mpeg")
        return item


async def start_fakes(*, discord_headers: bool = True, channels: int = 1) -> tuple[BenchDiscord, BenchProducer, Ids]:
    """Both fakes on 127.0.0.1: one guild, `channels` text channels, one member. Tasks stay pending."""
    fake = BenchDiscord(discord_headers=discord_headers)
    await fake.start()
    producer = BenchProducer(token=PRODUCER_TOKEN, latency=0.05, auto_complete=False)
    await producer.start()
    guild_id = fake.add_guild("Bench Guild")
    channel_ids = [fake.add_channel(guild_id, f"jams-{n}") for n in range(channels)]
    member_id = fake.add_user("bencher")
    return fake, producer, Ids(guild_id, channel_ids, member_id)


@dataclass
class Ids:
    guild_id: int
    channel_ids: list[int]
    member_id: int

    @property
    def channel_id(self) -> int:
        return self.channel_ids[0]


async def stop_fakes(fake: FakeDiscord, producer: FakeProducer) -> None:
    await producer.close()
    await fake.close()


# -- the bot's charging API ----------------------------------------------------------------------


async def charge_task(service: Any, request: Any) -> Any:
    """Charge and record one task the way a command does: the Task, or the service's QuotaExceeded.

    Written for both shapes of `SongService`: `enqueue` (tasks wait in a per-guild line and get their
    callback secret when promoted) and the earlier `reserve` (charge and secret at once).
    """
    if hasattr(service, "enqueue"):
        return await service.enqueue(request)
    return (await service.reserve(request)).task


async def running_tasks(service: Any, repo: Any, requests: Sequence[Any]) -> list[tuple[str, Any]]:
    """Charge `requests` and make each task submittable: (callback secret, Task) pairs, in order."""
    if not hasattr(service, "enqueue"):
        return [(ticket.secret, ticket.task) for ticket in [await service.reserve(r) for r in requests]]
    from bot.songs.requests import new_secret

    for request in requests:
        await service.enqueue(request)
    pairs: list[tuple[str, Any]] = []
    for guild_id in sorted({request.guild_id for request in requests}):
        limits = await service.limits(guild_id)
        promoted = await repo.promote_queued(guild_id, limits, new_secret, time.time())
        pairs.extend((secret, task) for task, secret in promoted)
    return sorted(pairs, key=lambda pair: pair[1].id)


# -- child processes ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bot_env(fake: FakeDiscord, producer: FakeProducer, workdir: Path, **extra: str) -> dict[str, str]:
    """The environment `python -m bot` gets: the fakes' addresses, callback mode, a temp database."""
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(REPO),
        "PYTHONDONTWRITEBYTECODE": "1",
        "BENCH_DISCORD_API": fake.api_base,
        "BENCH_DISCORD_GATEWAY": fake.gateway_url,
        "DISCORD_TOKEN": fake.token,
        "PRODUCER_API_TOKEN": producer.token,
        "PRODUCER_API_BASE": producer.base_url,
        "ALLOW_PRIVATE_MEDIA_HOSTS": "true",  # the fake API serves media from 127.0.0.1
        "DATABASE_PATH": str(workdir / "bot.db"),
        "WEBHOOK_HOST": "127.0.0.1",
        "WEBHOOK_PORT": str(port),
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "GUILD_DAILY_QUOTA": "1000000",
        # One member sends every command here: lift the per-guild and per-member concurrency limits.
        "MAX_RUNNING_PER_GUILD": "100000",
        "MAX_RUNNING_PER_MEMBER": "100000",
        "MAX_QUEUED_PER_GUILD": "100000",
        "LOG_LEVEL": "INFO",
    }
    env.update(extra)
    return env


class Child:
    """A benchmark child process: its output is read continuously and searched for markers."""

    def __init__(self, proc: asyncio.subprocess.Process, started: float) -> None:
        self.proc = proc
        self.started = started
        self.lines: list[tuple[float, str]] = []
        self._waiters: list[tuple[re.Pattern[str], asyncio.Future[tuple[float, str]]]] = []
        self._readers = [
            asyncio.create_task(self._read(stream)) for stream in (proc.stdout, proc.stderr) if stream is not None
        ]

    @classmethod
    async def spawn(cls, args: Sequence[str], env: dict[str, str], cwd: Path) -> Child:
        started = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            *args,
            env=env,
            cwd=cwd,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        return cls(proc, started)

    async def _read(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            now = time.monotonic()
            text = line.decode(errors="replace").rstrip()
            self.lines.append((now, text))
            for pattern, future in list(self._waiters):
                if not future.done() and pattern.search(text):
                    future.set_result((now, text))

    async def wait_for(self, pattern: str, within: float = 30) -> tuple[float, str]:
        """(monotonic time the line was read, the line) of the first output line matching `pattern`."""
        regex = re.compile(pattern)
        for seen in self.lines:
            if regex.search(seen[1]):
                return seen
        future: asyncio.Future[tuple[float, str]] = asyncio.get_running_loop().create_future()
        self._waiters.append((regex, future))
        exited = asyncio.create_task(self.proc.wait())
        try:
            done, _ = await asyncio.wait({future, exited}, timeout=within, return_when=asyncio.FIRST_COMPLETED)
        finally:
            exited.cancel()
        if future in done:
            return future.result()
        await asyncio.sleep(0.1)  # let the readers catch the last words
        raise RuntimeError(f"child never printed /{pattern}/ (exit code {self.proc.returncode}):\n{self.tail()}")

    def tail(self, n: int = 30) -> str:
        return "\n".join(text for _, text in self.lines[-n:])

    def count(self, pattern: str) -> int:
        regex = re.compile(pattern)
        return sum(1 for _, text in self.lines if regex.search(text))

    def status(self) -> dict[str, int]:
        """VmRSS / VmHWM / ... of the child in bytes, from /proc/<pid>/status."""
        values: dict[str, int] = {}
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                key, _, rest = line.partition(":")
                if key.startswith("Vm") and rest.strip().endswith("kB"):
                    values[key] = int(rest.split()[0]) * 1024
        return values

    def reset_peak(self) -> bool:
        """Reset the child's VmHWM to its current RSS (Linux clear_refs 5); False where not allowed."""
        try:
            Path(f"/proc/{self.proc.pid}/clear_refs").write_text("5")
        except OSError:
            return False
        return True

    async def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        await self.proc.stdin.drain()

    async def stop(self, grace: float = 15) -> int:
        """SIGTERM (the bot closes cleanly on it), then SIGKILL if it lingers."""
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), grace)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                await self.proc.wait()
        await asyncio.gather(*self._readers, return_exceptions=True)
        return self.proc.returncode if self.proc.returncode is not None else -1


BOT_READY = r"Logged in as "
BARE_READY = r"^BARE READY$"


async def quiesce(fake: FakeDiscord, producer: FakeProducer, quiet: float = 0.5, within: float = 60) -> None:
    """Wait until neither fake has seen a request for `quiet` seconds: the bot has finished its work."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    seen = (-1, -1)
    while loop.time() < deadline:
        now = (len(fake.requests), len(producer.audio_requests) + len(producer.task_requests))
        if now == seen:
            return
        seen = now
        await asyncio.sleep(quiet)
    raise TimeoutError(f"the bot was still busy after {within} s")


async def dispatch_commands(
    fake: FakeDiscord, ids: Ids, count: int, *, interval: float, channels: Sequence[int] | None = None
) -> list[Any]:
    """Run /generate `count` times, one every `interval` seconds (open loop: no waiting for answers)."""
    loop = asyncio.get_running_loop()
    targets = list(channels or [ids.channel_id])
    start = loop.time()
    interactions = []
    for n in range(count):
        delay = start + n * interval - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        interactions.append(
            await fake.invoke_slash(
                "generate",
                {"prompt": f"bench song {n}: a calm piano piece"},
                user_id=ids.member_id,
                channel_id=targets[n % len(targets)],
            )
        )
    return interactions
