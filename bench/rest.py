"""Discord's global REST budget in a cluster: requests with the bot token per delivered song.

Two real `python -m bot` processes (shards 0 and 1 of 2) on one PostgreSQL, behind the tests'
round-robin proxy for callbacks (`tests.cluster_helpers.Cluster`), the fake Discord with a guild on
each shard and the fake Producer API reporting progress. Members in both guilds ask for songs; the
poller (one of the processes) reads their progress twice; then every song finishes and its callback
lands on whichever process the proxy picks, half of the time not the one holding the command's
interaction token. Counted at the fake Discord from the first command to the last status line:
requests that spend the bot token's global limit (everything but `/interactions/…` and
`/webhooks/{app}/{token}…`), per song posted. Discord allows 50 a second for the whole bot, so this
figure decides how many songs a second a cluster can deliver at all.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
import time
from pathlib import Path
from typing import Any

EXEMPT = re.compile(r"^/(interactions|webhooks)/")
SONG_TOKEN = "bench-producer-token-0123456789"


def _status(interaction: Any) -> str:
    return interaction.original.content if interaction.original is not None else ""


async def rest_per_song(server: Any, songs_per_guild: int) -> dict[str, Any]:
    """Run the exchange above; the counts of global-limit and exempt requests, and songs posted."""
    from tests.cluster_helpers import Cluster
    from tests.fakes.fake_discord import FakeDiscord
    from tests.fakes.fake_producer import FakeProducer

    discord = FakeDiscord()
    producer = FakeProducer(token=SONG_TOKEN, latency=0.05)
    await discord.start()
    await producer.start()
    discord.max_concurrency = 2
    guilds = []
    for shard in (0, 1):
        guild_id = discord.add_guild(f"Shard {shard} guild", shard=(shard, 2))
        guilds.append((discord.add_channel(guild_id, "music"), discord.add_user(f"member{shard}")))
    url = await asyncio.to_thread(server.create_database)
    with tempfile.TemporaryDirectory(prefix="bench-rest-") as tmp:
        cluster = Cluster(
            discord_api=discord.api_base,
            gateway=discord.gateway_url,
            base_env={
                "DISCORD_TOKEN": discord.token,
                "PRODUCER_API_TOKEN": SONG_TOKEN,
                "PRODUCER_API_BASE": producer.base_url,
                "DATABASE_URL": url,
                "POLL_INTERVAL": "1",
                "CALLBACK_GRACE": "600",  # results come by callback; polls only read progress
                "ALLOW_PRIVATE_MEDIA_HOSTS": "true",
                "GUILD_DAILY_QUOTA": "1000",
                "MAX_RUNNING_PER_GUILD": "100",
                "MAX_RUNNING_PER_MEMBER": "100",
            },
            shard_ids=["0", "1"],
            cwd=Path(tmp),
            callbacks=True,
        )
        try:
            await cluster.start()
            started = len(discord.requests)
            producer.progress_timeline = ((0.0, "20%"), (8.0, "60%"))
            asked = []
            for n in range(songs_per_guild):
                for channel, member in guilds:
                    producer.script(outcome="never")
                    asked.append(
                        await discord.invoke_slash(
                            "generate", {"prompt": f"budget song {n}"}, user_id=member, channel_id=channel
                        )
                    )
            tasks = await producer.wait_for_task_count(len(asked), timeout=60)
            await discord.wait_for(lambda: all("60%" in _status(i) for i in asked), timeout=60)
            began = time.monotonic()
            for task in tasks:
                await producer.complete(task.task_id)
            await discord.wait_for(lambda: all("✅" in _status(i) for i in asked), timeout=120)
            delivered = time.monotonic() - began
            window = discord.requests[started:]
            posted = sum(
                1
                for channel, _ in guilds
                for message in discord.messages.get(channel, [])
                if any(f.get("name") == "Song id" for e in message.embeds for f in e["fields"])
            )
        finally:
            await cluster.close()
            await producer.close()
            await discord.close()
    spent = [(method, path) for method, path in window if not EXEMPT.match(path)]
    return {
        "songs": posted,
        "commands": len(asked),
        "global": len(spent),
        "exempt": len(window) - len(spent),
        "global_kinds": sorted({f"{method} {re.sub(r'[0-9]+', 'N', path)}" for method, path in spent}),
        "callbacks_elsewhere": sum(1 for index, path in cluster.proxy.taken if path.startswith("/callbacks/")),
        "seconds": delivered,
    }
