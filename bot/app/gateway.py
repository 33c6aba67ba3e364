"""Connecting a shard to Discord's gateway: patiently, quietly, and never in the way of a stop.

discord.py's `AutoShardedClient.launch_shard` retries a failed first connection every 5 s forever,
logging a full traceback each time, and does not look at whether the client is closing: a bot that
logged in over REST but cannot reach the gateway (a firewall, an outage, a cluster whose only way
out is a REST proxy) filled the log and ignored Ctrl-C and `docker stop`. `launch_shard` here does
the same job with one WARNING line per attempt, back-off like the REST wait at start (2, 4, 8 … up
to 60 s), and returns as soon as the client is closing.

It has to reach into discord.py's name-mangled shard table and event queue to hand the connected
websocket over exactly as the library does; that is kept to `_adopt` alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import discord
import yarl
from discord.gateway import DiscordWebSocket
from discord.shard import Shard

from bot.ops.startup import DISCORD_RETRY_FIRST, DISCORD_RETRY_MAX, describe_network_error

log = logging.getLogger(__name__)


async def launch_shard(
    client: discord.AutoShardedClient, stopping: asyncio.Event, gateway: yarl.URL, shard_id: int, *, initial: bool
) -> None:
    """Connect `shard_id`, retrying with back-off until it connects or `stopping` is set."""
    delay = DISCORD_RETRY_FIRST
    while not stopping.is_set() and not client.is_closed():
        try:
            connecting = DiscordWebSocket.from_client(client, initial=initial, gateway=gateway, shard_id=shard_id)
            ws = await asyncio.wait_for(connecting, timeout=client.shard_connect_timeout)
        except Exception as exc:  # discord.py's own launcher retries on any failure too
            if stopping.is_set() or client.is_closed():
                return
            log.warning(
                "Cannot connect shard %d to Discord's gateway (%s); retrying in %.0f s",
                shard_id,
                describe_network_error(exc),
                delay,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), delay)
            delay = min(delay * 2, DISCORD_RETRY_MAX)
            continue
        if delay > DISCORD_RETRY_FIRST:
            log.info("Shard %d reached Discord's gateway", shard_id)
        _adopt(client, ws, shard_id)
        return


def _adopt(client: discord.AutoShardedClient, ws: DiscordWebSocket, shard_id: int) -> None:
    """What discord.py 2.x's `launch_shard` does with a connected websocket: keep reading it as a `Shard`."""
    shards: dict[int, Shard] = client._AutoShardedClient__shards  # type: ignore[attr-defined]
    queue: asyncio.PriorityQueue = client._AutoShardedClient__queue  # type: ignore[attr-defined]
    shards[shard_id] = shard = Shard(ws, client, queue.put_nowait)
    shard.launch()
