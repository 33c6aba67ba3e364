"""What budgets and role caps add to a charge: the same charges with and without them, one run.

Three kinds of charge go through the real `SongService.enqueue` on a temporary SQLite file:
- **today's charge**: the quota charge as it was before billing (the month counter's read and
  write, `_read_months` / `_write_months`, replaced by no-ops for this variant only);
- **month counter**: a server without budget or role caps (the month counter is still read and
  written: `python -m bot usage` and budgets need it, so every charge pays for it);
- **budget + roles**: a server with a monthly budget, a member with three roles that have caps.
Each is measured one at a time (the latency a lone member sees) and as a burst (`BURST` charges at
once, group-committed), the kinds taking turns; the ratio is to today's charge.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import Row, Section, ms

BLOCKS = 20
"""Sequential charges are timed in blocks of `BLOCK`, the three kinds taking turns block by block,
so drift on a shared machine (other processes, the disk) falls on all three alike."""
BLOCK = 50
BURSTS = 3
BURST = 500
ROLES = (11, 12, 13)
KINDS = ("today", "month", "budget")


class _Kind:
    """One kind of charge: its own database file and service."""

    def __init__(self, folder: Path, kind: str) -> None:
        self.folder, self.kind = folder, kind
        self.sequential: list[float] = []
        self.bursts: list[float] = []
        self._n = 0

    async def open(self) -> None:
        from bench.webhook import NoopDelivery
        from bot.core.settings import settings_from_mapping
        from bot.producer.client import ProducerClient
        from bot.songs.service import SongService
        from bot.storage import open_repository
        from bot.storage.billing import MonthBook

        settings = settings_from_mapping(
            {
                "DISCORD_TOKEN": "unused",
                "PRODUCER_API_TOKEN": "unused",
                "DATABASE_PATH": str(self.folder / f"{self.kind}.db"),
                "GUILD_DAILY_QUOTA": "1000000",
                "MAX_RUNNING_PER_GUILD": "1000000",
                "MAX_RUNNING_PER_MEMBER": "1000000",
                "MAX_QUEUED_PER_GUILD": "1000000",
            }
        )
        self.repo = repo = await open_repository(settings)
        if self.kind == "today":

            async def no_months(tx: Any, keys: Any) -> MonthBook:
                return MonthBook({}, {})

            async def no_write(tx: Any, book: Any, own: Any = ()) -> None:
                return None

            repo._read_months = no_months  # type: ignore[method-assign]
            repo._write_months = no_write  # type: ignore[method-assign]
        if self.kind == "budget":
            await repo.update_billing(GUILD, monthly_budget=10**9)
            for role, cap in zip(ROLES, (5, 50, 1000000), strict=True):
                await repo.set_role_cap(GUILD, role, cap)
        api = ProducerClient(None, "http://127.0.0.1:9", "unused")  # type: ignore[arg-type]  # never called
        self.service = SongService(settings, repo, api, NoopDelivery(), clock=time.time)  # type: ignore[arg-type]
        for _ in range(20):
            await self.charge()

    async def charge(self) -> None:
        from bot.songs.requests import SongRequest

        self._n += 1
        body = {"action": "generate", "prompt": f"song {self._n}", "model": "FUZZ-2.0 Pro"}
        roles = ROLES if self.kind == "budget" else ()
        await self.service.enqueue(SongRequest("generate", body, GUILD, 1, 1000 + self._n % 50, role_ids=roles))

    async def block(self) -> None:
        started = time.perf_counter()
        for _ in range(BLOCK):
            await self.charge()
        self.sequential.append((time.perf_counter() - started) / BLOCK)

    async def burst(self) -> None:
        started = time.perf_counter()
        await asyncio.gather(*(self.charge() for _ in range(BURST)))
        self.bursts.append(time.perf_counter() - started)


GUILD = 77


async def run(quick: bool) -> Section:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-billing-") as tmp:
        kinds = {kind: _Kind(Path(tmp), kind) for kind in KINDS}
        try:
            for kind in kinds.values():
                await kind.open()
            for _ in range(4 if quick else BLOCKS):
                for kind in kinds.values():
                    gc.collect()
                    await kind.block()
            for _ in range(1 if quick else BURSTS):
                for kind in kinds.values():
                    gc.collect()
                    await kind.burst()
        finally:
            for kind in kinds.values():
                await kind.repo.close()
    seq = {name: statistics.median(kind.sequential) for name, kind in kinds.items()}
    burst = {name: statistics.median(kind.bursts) for name, kind in kinds.items()}
    section = Section("Budgets and role caps")
    for name, label in (("month", "month counter"), ("budget", "budget + 3 role caps")):
        section.rows.append(
            Row(f"billing: one charge at a time, {label}", ms(seq[name]), ms(seq["today"]), seq[name] / seq["today"])
        )
        section.rows.append(
            Row(
                f"billing: {BURST} charges at once, {label}",
                ms(burst[name]),
                ms(burst["today"]),
                burst[name] / burst["today"],
            )
        )
    section.notes.append(
        f"Billing: SongService.enqueue on SQLite; sequential charges timed in blocks of {BLOCK}, the three kinds "
        f"taking turns ({BLOCKS} blocks each, median block), then bursts of {BURST} taking turns ({BURSTS} each, "
        "median). Baseline: today's charge, the month counter's read and write stubbed out, in the same run."
    )
    section.seconds = time.monotonic() - started
    return section
