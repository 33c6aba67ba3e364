"""Shared by the webhook tests: a canary server, and a real task waiting for its callback."""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp import web

from tests.harness import World


class Canary:
    """Counts every request it gets; nothing legitimate ever points here."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.base = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        async def record(request: web.Request) -> web.Response:
            self.hits.append(f"{request.method} {request.path_qs}")
            return web.Response(body=b"ID3" + bytes(1024), content_type="audio/mpeg")

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", record)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.base = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def evil_result(canary: Canary, task_id: str = "forged") -> dict[str, Any]:
    return {
        "success": True,
        "task_id": task_id,
        "data": [
            {
                "id": "forged-song",
                "title": "@everyone free nitro",
                "audio_url": f"{canary.base}/steal.mp3",
                "image_url": f"{canary.base}/pixel.jpg",
            }
        ],
    }


def bot_messages(world: World) -> int:
    return sum(len(messages) for messages in world.discord.messages.values())


async def post(world: World, path: str, body: bytes, content_type: str = "application/json") -> tuple[int, bytes]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(world.webhook_base + path, data=body, headers={"content-type": content_type}) as response,
    ):
        return response.status, await response.read()


async def pending_song(world: World) -> tuple[str, str]:
    """A real task waiting for its result: (its API task id, its callback path)."""
    world.producer.script(outcome="never")
    await world.discord.invoke_slash(
        "generate", {"prompt": "real song"}, user_id=world.member_id, channel_id=world.channel_id
    )
    (task,) = await world.producer.wait_for_task_count(1)
    await world.producer.wait_for(lambda: task.callback_url)
    assert task.callback_url is not None
    return task.task_id, "/callbacks/" + task.callback_url.rsplit("/", 1)[1]
