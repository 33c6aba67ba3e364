"""What `/healthz` reports: is every gateway shard of this process connected, does the database answer.

Discord drops gateway connections now and then and discord.py reconnects within seconds, so a
shard counts as down only after `grace` seconds without a connection: a health check (Docker's
HEALTHCHECK, a load balancer) then restarts or reroutes only a bot that really is cut off.
Works the same for a plain `Bot` (one connection, shard 0) and an `AutoShardedBot` (one per shard):
discord.py dispatches `shard_connect`/`shard_resumed`/`shard_disconnect` for the latter and
`connect`/`resumed`/`disconnect` for the former; the bot hands every event to `observe`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import discord

HEALTH_GRACE = 20.0
"""Seconds a shard may be disconnected before /healthz says so (discord.py reconnects faster)."""
DATABASE_TIMEOUT = 5.0
"""Seconds the database gets to answer the health probe."""


@dataclass(frozen=True, slots=True)
class Health:
    healthy: bool
    reason: str
    shards: dict[int, str]
    answer: object = None
    """What the database probe returned (None when it failed)."""


class GatewayWatch:
    """Remembers, per shard, since when it has been without a gateway connection."""

    def __init__(
        self, bot: discord.Client, *, grace: float = HEALTH_GRACE, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._bot = bot
        self.grace = grace
        self._clock = clock
        self._started = clock()
        self._connected: set[int] = set()
        self._down_since: dict[int, float] = {}
        self._sharded = isinstance(bot, discord.AutoShardedClient)

    def observe(self, event: str, *args: object) -> None:
        """Called with every event the bot dispatches (synchronously: no task per event, so nothing
        is scheduled on a loop that a closing client has already let go of)."""
        if self._sharded:
            shard = args[0] if args and isinstance(args[0], int) else None
            if shard is None:
                return
            if event in {"shard_connect", "shard_resumed"}:
                self._up(shard)
            elif event == "shard_disconnect":
                self._down(shard)
        elif event in {"connect", "resumed"}:
            self._up(self._bot.shard_id or 0)
        elif event == "disconnect":
            self._down(self._bot.shard_id or 0)

    def _up(self, shard_id: int) -> None:
        self._connected.add(shard_id)
        self._down_since.pop(shard_id, None)

    def _down(self, shard_id: int) -> None:
        self._connected.discard(shard_id)
        self._down_since.setdefault(shard_id, self._clock())

    def shard_ids(self) -> list[int]:
        """This process's shards: all it runs when sharded, else the one connection."""
        bot = self._bot
        if isinstance(bot, discord.AutoShardedClient):
            ids = bot.shard_ids if bot.shard_ids is not None else list(bot.shards)
            return sorted(ids) or [0]
        return [bot.shard_id or 0]

    def state(self) -> tuple[dict[int, str], list[tuple[int, float]]]:
        """Each shard's state, and the shards down longer than the grace (with seconds down)."""
        now = self._clock()
        states: dict[int, str] = {}
        overdue: list[tuple[int, float]] = []
        for shard in self.shard_ids():
            if shard in self._connected:
                states[shard] = "connected"
                continue
            since = self._down_since.get(shard, self._started)
            states[shard] = "connecting" if shard not in self._down_since else "disconnected"
            if now - since > self.grace:
                overdue.append((shard, now - since))
        return states, overdue


async def check_health(watch: GatewayWatch, database_probe: Callable[[], Awaitable[object]]) -> Health:
    """Healthy when every shard is connected (or only briefly not) and the database answers."""
    shards, overdue = watch.state()
    reasons = [f"shard {shard} without a Discord gateway connection for {seconds:.0f} s" for shard, seconds in overdue]
    answer = None
    try:
        answer = await asyncio.wait_for(database_probe(), DATABASE_TIMEOUT)
    except TimeoutError:
        reasons.append(f"database did not answer within {DATABASE_TIMEOUT:.0f} s")
    except Exception as exc:
        reasons.append(f"database error ({type(exc).__name__})")
    return Health(healthy=not reasons, reason="; ".join(reasons) or "ok", shards=shards, answer=answer)


async def health_report(
    watch: GatewayWatch,
    database_probe: Callable[[], Awaitable[object]],
    *,
    ready: bool,
    logged_in: bool,
    about: dict[str, object],
    mode: str,
) -> tuple[bool, dict[str, object]]:
    """`/healthz`'s status and body: `starting` (503) until every shard has been ready once (the
    listener opens before the bot reaches Discord), then `check_health`'s verdict."""
    if ready:
        health = await check_health(watch, database_probe)
        healthy, status, reason, shards = (
            health.healthy,
            "ok" if health.healthy else "unavailable",
            health.reason,
            health.shards,
        )
        pending = health.answer.get("pending", 0) if isinstance(health.answer, dict) else 0
    else:
        healthy, status, shards, pending = False, "starting", watch.state()[0], 0
        reason = "connecting to Discord's gateway" if logged_in else "waiting for Discord"
    return healthy, {
        "status": status,
        "reason": reason,
        **about,
        "shards": {str(shard): state for shard, state in shards.items()},
        "mode": mode,
        "pending_tasks": pending,
    }
