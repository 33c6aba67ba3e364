"""Webhook ingestion: how many Producer callbacks per second the listener takes in, and how fast it answers.

A burst of callbacks arrives when many songs finish together; the API does not retry a callback,
so each must be answered quickly and never lost (a lost one waits `CALLBACK_GRACE` for polling).

The listener runs in a child process: `bot.app.webhook.create_app` with the real `SongService` and
`Repository` on a temporary SQLite file. Every task is pre-created through the service's own
charging call, promoted to running and marked submitted, so each callback carries a valid secret.
Delivery is a no-op sink: the service still claims, marks and finishes each task in the background
(and does its after-delivery bookkeeping), but nothing is posted to Discord, so the number is the
listener's and the database's, not the fake Discord's. The load generator in this process keeps
`CONCURRENCY` requests in flight. Baseline: a bare aiohttp handler that reads the body and answers
200 with the same small JSON, in the same kind of child process, driven the same way.
"""

from __future__ import annotations

import asyncio
import cProfile
import json
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bench.common import REPO, Child, Row, Section, ms, percentile, running_tasks
from bench.instrument import StatementCounter, cpu_seconds

CONCURRENCY = 64
WARMUP = 200


# -- child side ------------------------------------------------------------------------------


class NoopDelivery:
    """Stands in for `bot.songs.delivery.Delivery`: accepts everything, posts nothing."""

    def remember_interaction(self, task_id: int, interaction: Any) -> None:
        pass

    async def post_songs(self, task: Any, songs: Any, *, still_mine: Any = None) -> None:
        pass

    async def update_status(self, task_id: int, *, as_delivered: bool = False) -> None:
        pass

    async def notify_failure(self, task: Any) -> None:
        pass

    def left_to_holder(self, task: Any) -> bool:
        return False


async def _bare_callback(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response({"ok": True, "duplicate": False})


async def _health() -> tuple[bool, dict[str, object]]:
    return True, {"status": "ok"}


async def serve(mode: str, count: int, directory: str) -> None:
    """Child: prepare `count` tasks (bot mode), listen, and on a line on stdin report what was stored."""
    from bot.app.webhook import create_app
    from bot.core.settings import settings_from_mapping
    from bot.producer.client import ProducerClient
    from bot.songs.requests import SongRequest
    from bot.songs.service import SongService
    from bot.storage import open_repository

    folder = Path(directory)
    loop = asyncio.get_running_loop()
    repo = service = session = None
    counter = StatementCounter()
    profile: cProfile.Profile | None = None
    guilds = int(os.environ.get("BENCH_GUILDS", "50"))
    callbacks = Counter[str]()
    if mode in {"bot", "listen"}:
        env = {
            "DISCORD_TOKEN": "unused",
            "PRODUCER_API_TOKEN": "unused",
            "PUBLIC_URL": "http://127.0.0.1:9",
            "DATABASE_PATH": str(folder / "bot.db"),
            "GUILD_DAILY_QUOTA": str(count + 1),
            "MAX_RUNNING_PER_GUILD": str(count + 1),
            "MAX_QUEUED_PER_GUILD": str(count + 1),
        }
        if os.environ.get("BENCH_DATABASE_URL"):  # PostgreSQL, possibly shared with another listener
            env["DATABASE_URL"] = os.environ["BENCH_DATABASE_URL"]
        settings = settings_from_mapping(env)
        repo = await open_repository(settings)
        session = aiohttp.ClientSession()
        api = ProducerClient(session, "http://127.0.0.1:9", "unused")
        service = SongService(settings, repo, api, NoopDelivery(), clock=time.time)  # type: ignore[arg-type]
        accept = service.accept_callback

        async def accept_counted(secret: str, body: dict[str, Any]) -> str:
            outcome = await accept(secret, body)
            callbacks[outcome] += 1
            return outcome

        service.accept_callback = accept_counted  # type: ignore[method-assign]
        app = create_app(service, _health)
    if mode == "bot":
        assert service is not None and repo is not None
        started = time.monotonic()
        requests = [
            SongRequest(
                action="generate",
                body={"action": "generate", "prompt": f"bench {n}", "model": "FUZZ-2.0 Pro"},
                guild_id=1000 + n % guilds,
                channel_id=2000 + n % guilds,
                requester_id=3000 + n,
            )
            for n in range(count)
        ]
        tickets = []
        for secret, task in await running_tasks(service, repo, requests):
            await repo.mark_submitted(task.id, f"api-{task.id}", time.time())
            tickets.append([secret, f"api-{task.id}"])
        (folder / "secrets.json").write_text(json.dumps(tickets))
        print(f"PREPARED {len(tickets)} in {time.monotonic() - started:.2f}s", flush=True)
    elif mode == "bare":
        app = web.Application()
        app.router.add_post("/callbacks/{secret}", _bare_callback)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    if repo is not None:
        counter.attach(repo)
    print(f"LISTENING {runner.addresses[0][1]}", flush=True)
    cpu_at = cpu_seconds()
    # "reset" (after the warm-up) starts the counts over; "report" ends the run.
    while (await loop.run_in_executor(None, sys.stdin.readline)).strip() == "reset":
        if service is not None:
            await service.drain()
        counter.reset()
        callbacks.clear()
        cpu_at = cpu_seconds()
        if os.environ.get("BENCH_PROFILE"):  # a cProfile of the measured callbacks only
            profile = cProfile.Profile()
            profile.enable()
        print("RESET", flush=True)
    report: dict[str, Any] = {}
    if service is not None:
        await service.drain()
    report["cpu_seconds"] = cpu_seconds() - cpu_at
    if profile is not None:
        profile.disable()
        profile.dump_stats(os.environ["BENCH_PROFILE"] + f".{os.getpid()}")
    if service is not None and repo is not None:
        report["statements"] = counter.statements
        report["transactions"] = counter.transactions
        report["callbacks"] = dict(callbacks)
        states = ("reserved", "pending", "received", "delivering", "delivered", "failed")
        tasks = await repo.tasks_in_states(*states)
        report["states"] = dict(Counter(task.state for task in tasks))
        report["delivered_with_result"] = sum(1 for t in tasks if t.state == "delivered" and t.result is not None)
    print("REPORT " + json.dumps(report), flush=True)
    await runner.cleanup()
    if session is not None:
        await session.close()
    if repo is not None:
        await repo.close()


# -- load side -------------------------------------------------------------------------------


def callback_body(api_task_id: str) -> bytes:
    """A finished song's callback as the Producer API sends it (about 2 KB of JSON)."""
    song_id = str(uuid.uuid4())
    lyric = "\n".join(["[Verse 1]", *(f"line {n} of a song that goes on for a while" for n in range(24))])
    body = {
        "success": True,
        "task_id": api_task_id,
        "trace_id": str(uuid.uuid4()),
        "data": [
            {
                "id": song_id,
                "title": "Bench Song",
                "image_url": f"https://cdn.example.com/{song_id}.jpg",
                "lyric": lyric,
                "audio_url": f"https://cdn.example.com/{song_id}.mp3",
                "video_url": None,
                "image_id": song_id,
                "seed": "123456",
                "sound": "a calm piano piece",
                "created_at": "2026-01-01T00:00:00.000Z",
                "model": "FUZZ-2.0 Pro",
                "progress": "100%",
                "state": "succeeded",
                "duration": "135.2330158730159",
            }
        ],
    }
    return json.dumps(body).encode()


async def fire(base: str, jobs: list[tuple[str, bytes]]) -> tuple[list[float], Counter[int], float]:
    """POST every job with CONCURRENCY in flight; latencies, status counts (0 = no answer), wall time."""
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    pending = iter(jobs)
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:

        async def worker() -> None:
            for secret, body in pending:
                started = time.perf_counter()
                try:
                    async with http.post(
                        f"{base}/callbacks/{secret}", data=body, headers={"Content-Type": "application/json"}
                    ) as response:
                        await response.read()
                        status = response.status
                except (aiohttp.ClientError, TimeoutError):
                    status = 0
                latencies.append(time.perf_counter() - started)
                statuses[status] += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        wall = time.perf_counter() - started
    return latencies, statuses, wall


async def measure(mode: str, count: int) -> dict[str, Any]:
    total = count + WARMUP
    with tempfile.TemporaryDirectory(prefix="bench-webhook-") as tmp:
        env = {"PATH": "", "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"}
        if os.environ.get("BENCH_PROFILE"):
            env["BENCH_PROFILE"] = os.environ["BENCH_PROFILE"]
        child = await Child.spawn(["-m", "bench.child", "webhook", mode, str(total), tmp], env, cwd=Path(tmp))
        try:
            _, line = await child.wait_for(r"^LISTENING \d+", within=240)
            base = f"http://127.0.0.1:{line.split()[1]}"
            if mode == "bot":
                pairs = json.loads((Path(tmp) / "secrets.json").read_text())
            else:
                pairs = [[uuid.uuid4().hex, f"api-{n}"] for n in range(total)]
            jobs = [(secret, callback_body(api_id)) for secret, api_id in pairs]
            await fire(base, jobs[:WARMUP])
            await child.send("reset")
            await child.wait_for(r"^RESET$", within=120)
            latencies, statuses, wall = await fire(base, jobs[WARMUP:])
            await child.send("report")
            _, line = await child.wait_for(r"^REPORT ", within=120)
            report = json.loads(line.split(" ", 1)[1])
            prepared = [text for _, text in child.lines if text.startswith("PREPARED")]
        finally:
            await child.stop()
    return {
        "latencies": latencies,
        "statuses": statuses,
        "rate": count / wall,
        "report": report,
        "prepared": prepared[0] if prepared else "",
        "total": total,
    }


async def run(quick: bool) -> Section:
    started = time.monotonic()
    count = 1500 if quick else 5000
    base = await measure("bare", count)
    bot = await measure("bot", count)
    b99, v99 = percentile(base["latencies"], 99), percentile(bot["latencies"], 99)
    lost = bot["total"] - bot["report"].get("delivered_with_result", 0)
    ok = bot["statuses"].get(200, 0)
    share = bot["rate"] / base["rate"]
    section = Section("Webhook ingestion")
    section.rows = [
        Row(
            f"callbacks/s ({count} at concurrency {CONCURRENCY})",
            f"{bot['rate']:.0f}/s",
            f"{base['rate']:.0f}/s",
            share,
            "≥ 1,000/s and ≥ 30 % of baseline",
            bot["rate"] >= 1000 and share >= 0.30,
        ),
        Row("callback ack p99", ms(v99), ms(b99), v99 / b99, "≤ 50 ms", v99 <= 0.050),
        Row(
            "callbacks lost (task without stored result)",
            str(lost),
            "–",
            None,
            "0",
            lost == 0 and ok == count,
        ),
    ]
    section.notes.append(
        f"Webhook: real create_app + SongService + Repository (temp SQLite), delivery = no-op sink; "
        f"{WARMUP} warm-up callbacks first. Bot answers: {dict(bot['statuses'])}, task states after draining: "
        f"{bot['report'].get('states')}; p50 bot {ms(percentile(bot['latencies'], 50))}, bare "
        f"{ms(percentile(base['latencies'], 50))}. {bot['prepared']} (charged, promoted, marked submitted)."
    )
    section.seconds = time.monotonic() - started
    return section
