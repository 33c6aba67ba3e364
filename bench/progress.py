"""Progress on the status line: what reading it costs in `/producer/tasks` requests, and whether members see it.

Twenty songs generate at once for a whole window (the fake API keeps them pending and reports
0% → 45% → 100% over time, `FakeProducer.progress_timeline`). Counted over the window: the bot's
`/producer/tasks` requests and its status-line edits. Polling mode asks about every pending song in
one batched request per `POLL_INTERVAL` anyway, so progress must cost no request at all there; its
baseline is that cadence (one request per sweep). Callback mode otherwise asks nothing until a
song's callback is overdue, so there the progress reads are the whole cost; the API asks clients to
stay under one request per second.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
import time
from pathlib import Path

from bench.common import BOT_READY, Child, Row, Section, bot_env, dispatch_commands, start_fakes, stop_fakes

SONGS = 20
POLL_INTERVAL = 5.0
BUDGET_PER_MINUTE = 60.0
"""The platform's "stay under 1 request per second"."""
EDITS_PER_SONG_MINUTE = 6.0
"""At most one progress edit per status line every 10 s."""
TIMELINE = (0.0, "0%"), (10.0, "45%"), (20.0, "100%")

_PERCENT = re.compile(r"` (\d{1,3})% ·")


async def measure(mode: str, window: float) -> dict[str, float]:
    """Requests and edits per minute while SONGS songs generate, in `polling` or `callback` mode."""
    fake, producer, ids = await start_fakes()
    producer.progress_timeline = TIMELINE
    try:
        with tempfile.TemporaryDirectory(prefix="bench-progress-") as tmp:
            extra = {"POLL_INTERVAL": f"{POLL_INTERVAL:g}"}
            if mode == "polling":
                extra["PUBLIC_URL"] = ""
            env = bot_env(fake, producer, Path(tmp), **extra)
            child = await Child.spawn(["-m", "bench.child", "bot"], env, cwd=Path(tmp))
            try:
                await child.wait_for(BOT_READY, within=60)
                interactions = await dispatch_commands(fake, ids, SONGS, interval=0.05)
                await producer.wait_for(lambda: len(producer.tasks) >= SONGS, timeout=60)
                started = time.monotonic()
                loop_started = asyncio.get_running_loop().time()
                edits_before = sum(i.original.edits if i.original else 0 for i in interactions)
                seen: list[set[int]] = [set() for _ in interactions]
                while time.monotonic() - started < window:
                    for shown, interaction in zip(seen, interactions, strict=True):
                        content = interaction.original.content if interaction.original else ""
                        shown.update(int(value) for value in _PERCENT.findall(content))
                    await asyncio.sleep(0.25)
                elapsed = time.monotonic() - started
                requests = sum(1 for at, _ in producer.task_requests if at >= loop_started)
                single = sum(1 for at, body in producer.task_requests if at >= loop_started and "ids" not in body)
                edits = sum(i.original.edits if i.original else 0 for i in interactions) - edits_before
            finally:
                await child.stop()
    finally:
        await stop_fakes(fake, producer)
    return {
        "requests_per_minute": requests * 60 / elapsed,
        "requests": requests,
        "not_batched": single,
        "edits_per_song_minute": edits * 60 / elapsed / SONGS,
        "saw_all_three": sum(1 for shown in seen if {0, 45, 100} <= shown),
        "seconds": elapsed,
    }


async def run(quick: bool) -> Section:
    window = 40.0 if quick else 60.0
    section = Section("progress")
    baseline = 60 / POLL_INTERVAL
    for mode in ("polling", "callback"):
        result = await measure(mode, window)
        rate = result["requests_per_minute"]
        label = f"/producer/tasks per minute, {SONGS} songs generating ({mode}, POLL_INTERVAL {POLL_INTERVAL:g} s)"
        if mode == "polling":
            section.rows.append(
                Row(
                    label,
                    f"{rate:.1f}/min",
                    f"{baseline:.0f}/min (one per sweep)",
                    rate / baseline,
                    "≤ one per sweep and ≤ 60/min",
                    rate <= baseline * 1.1 and rate <= BUDGET_PER_MINUTE,
                )
            )
        else:
            section.rows.append(Row(label, f"{rate:.1f}/min", target="≤ 60/min", met=rate <= BUDGET_PER_MINUTE))
        section.rows.append(
            Row(
                f"status edits per song per minute ({mode})",
                f"{result['edits_per_song_minute']:.1f}",
                target=f"≤ {EDITS_PER_SONG_MINUTE:g}",
                met=result["edits_per_song_minute"] <= EDITS_PER_SONG_MINUTE + 0.5,
            )
        )
        section.rows.append(
            Row(
                f"status lines that showed 0%, 45% and 100% ({mode})",
                f"{result['saw_all_three']}/{SONGS}",
                target=f"{SONGS}/{SONGS}",
                met=result["saw_all_three"] == SONGS,
            )
        )
        section.notes.append(
            f"progress ({mode}): {result['requests']:.0f} /producer/tasks requests in {result['seconds']:.1f} s, "
            f"{result['not_batched']:.0f} of them not a batch; the fake reported "
            f"{' → '.join(f'{value} at {after:g} s' for after, value in TIMELINE)}."
        )
    return section
