"""Command acknowledgement: how long a member stares at nothing after pressing Enter on /generate.

Discord drops an interaction that is not answered within 3 s, so the time from the gateway event to
the bot's first interaction callback is the latency members feel most. Measured from
`FakeInteraction.dispatched_at` (just before the fake sends INTERACTION_CREATE) to the moment the
callback request reaches the fake, for commands sent at a steady rate (open loop: the next command
does not wait for the previous one), so the bot's own background work (charging, submitting,
status edits) competes with new commands as it does on a busy server. Baseline: a bare discord.py
bot whose /generate only defers, on the same fake, same rate, same machine.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.common import (
    BARE_READY,
    BOT_READY,
    Child,
    Row,
    Section,
    bot_env,
    dispatch_commands,
    ms,
    percentile,
    quiesce,
    start_fakes,
    stop_fakes,
)

INTERVAL = 0.02
"""Seconds between commands: 50 commands per second."""

WARMUP = 20


async def measure(mode: str, count: int) -> tuple[list[float], dict[str, int]]:
    """Latencies (seconds) of `count` commands against the `bot` or the `bare` child."""
    fake, producer, ids = await start_fakes()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-ack-") as tmp:
            env = bot_env(fake, producer, Path(tmp), LOG_LEVEL="INFO")
            child = await Child.spawn(["-m", "bench.child", mode], env, cwd=Path(tmp))
            try:
                await child.wait_for(BOT_READY if mode == "bot" else BARE_READY, within=60)
                warm = await dispatch_commands(fake, ids, WARMUP, interval=INTERVAL)
                await fake.wait_for(lambda: all(i.id in fake.callback_at for i in warm), timeout=30)
                interactions = await dispatch_commands(fake, ids, count, interval=INTERVAL)
                await fake.wait_for(lambda: all(i.id in fake.callback_at for i in interactions), timeout=60)
                if mode == "bot":  # every command reached the API, then the bot went quiet: it is idle
                    await producer.wait_for(lambda: len(producer.tasks) >= WARMUP + count, timeout=60)
                await quiesce(fake, producer)
            finally:
                await child.stop()
            latencies = [fake.callback_at[i.id] - i.dispatched_at for i in interactions]
            checks = {
                "not_deferred": sum(1 for i in interactions if [r.get("type") for r in i.responses][:1] != [5]),
                "errors": child.count(r"ERROR|Traceback"),
                "api_tasks": len(producer.tasks),
            }
            return latencies, checks
    finally:
        await stop_fakes(fake, producer)


async def run(quick: bool) -> Section:
    started = time.monotonic()
    count, rounds = (150, 1) if quick else (500, 4)
    base: list[float] = []
    bot: list[float] = []
    base_checks: Counter[str] = Counter()
    bot_checks: Counter[str] = Counter()
    for _ in range(rounds):  # alternate, so drift on a shared machine hits both sides alike
        for mode, latencies, checks in (("bare", base, base_checks), ("bot", bot, bot_checks)):
            measured, seen = await measure(mode, count // rounds)
            latencies.extend(measured)
            checks.update(seen)
    section = Section("Command acknowledgement")
    b50, b99 = percentile(base, 50), percentile(base, 99)
    v50, v99 = percentile(bot, 50), percentile(bot, 99)
    section.rows = [
        Row(f"ack p50 (/generate ×{count})", ms(v50), ms(b50), v50 / b50),
        Row(
            f"ack p99 (/generate ×{count})",
            ms(v99),
            ms(b99),
            v99 / b99,
            "≤ 1.2× baseline",
            v99 <= 1.2 * b99 and bot_checks["not_deferred"] == 0,
        ),
    ]
    section.notes.append(
        f"Ack: {count} /generate at {1 / INTERVAL:.0f}/s in {rounds} alternating round(s) per side, each after "
        f"{WARMUP} warm-up commands; real MusicBot via "
        f"`python -m bot` (callback mode, tasks left pending at the fake API) vs a bare discord.py bot that "
        f"only defers. Max: bot {ms(max(bot))}, bare {ms(max(base))}. Not deferred: bot "
        f"{bot_checks['not_deferred']}, bare {base_checks['not_deferred']}; bot error log lines: "
        f"{bot_checks['errors']}; tasks the API received from the bot: {bot_checks['api_tasks']}."
    )
    section.seconds = time.monotonic() - started
    return section
