"""The webhook is a door: forged, repeated, malformed and hostile callbacks against the real listener.

A canary HTTP server on 127.0.0.1 stands for "a URL an attacker controls": every forged body points
at it, and every test ends by checking that the bot never fetched it and never posted a message.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.core.logs import QuietProtocolErrors, RedactSecrets
from tests.conftest import DISCORD_TOKEN, PRODUCER_TOKEN
from tests.harness import World
from tests.reliability_helpers import Canary, bot_messages, evil_result, pending_song, post


async def test_forged_callbacks_are_refused_and_change_nothing(world: World, canary: Canary) -> None:
    await world.start_bot(callbacks=True)
    api_task, real_path = await pending_song(world)
    before = bot_messages(world)
    secret = real_path.rsplit("/", 1)[1]
    forged = json.dumps(evil_result(canary, api_task)).encode()
    attempts = [
        "/callbacks/" + "A" * 43,  # well-formed, wrong
        "/callbacks/" + secret[:-1] + ("A" if secret[-1] != "A" else "B"),  # one character off
        "/callbacks/" + secret[:20],  # a prefix
        "/callbacks/" + secret + "x",  # an extension
        "/callbacks/" + secret.upper() if secret.upper() != secret else "/callbacks/nope",
        "/callbacks/..%2F..%2Fhealthz",
        "/callbacks/" + "%00" * 30,
    ]
    for path in attempts:
        status, body = await post(world, path, forged)
        assert status == 404, path
        assert json.loads(body) == {"error": "unknown callback"}
        assert b"steal" not in body and b"everyone" not in body
    await world.settle()
    assert canary.hits == []
    assert bot_messages(world) == before
    (task,) = await world.repo.tasks_in_states("pending")
    assert task.result is None


async def test_callback_naming_another_task_is_refused(world: World, canary: Canary) -> None:
    await world.start_bot(callbacks=True)
    _, real_path = await pending_song(world)
    status, body = await post(world, real_path, json.dumps(evil_result(canary, "some-other-task")).encode())
    assert status == 409 and json.loads(body) == {"error": "task id does not match"}
    await world.settle()
    assert canary.hits == [] and world.songs_in_channel() == []
    assert await world.repo.tasks_in_states("pending")


async def test_repeat_callback_for_a_finished_task_has_no_side_effects(world: World, canary: Canary) -> None:
    """Once a task has its result, a second body (even a different, hostile one) changes nothing."""
    await world.start_bot(callbacks=True)
    api_task, real_path = await pending_song(world)
    await world.producer.complete(api_task)
    await world.wait_for_song()
    await world.settle()
    before = bot_messages(world)
    (task,) = await world.repo.tasks_in_states("delivered")
    status, body = await post(world, real_path, json.dumps(evil_result(canary, api_task)).encode())
    assert status == 200 and json.loads(body) == {"ok": True, "duplicate": True}
    await world.settle()
    assert canary.hits == [] and bot_messages(world) == before
    (again,) = await world.repo.tasks_in_states("delivered")
    assert again.result == task.result


async def test_late_result_for_a_refunded_task_is_delivered_once(world: World, canary: Canary) -> None:
    """Past its deadline a task is refunded; the genuine late callback (its secret authenticates it) is
    still delivered and the refund stands. A replay after that has no side effects."""
    await world.start_bot(callbacks=True, TASK_TIMEOUT="60", POLL_INTERVAL="1")
    api_task, real_path = await pending_song(world)
    world.clock.advance(61)
    assert world.bot is not None
    world.bot.poller.wake()
    await world.discord.wait_for(
        lambda: sum("no result" in m.content for m in world.discord.messages[world.channel_id]) == 2
    )  # the status line and the notice
    await world.settle()
    await world.producer.complete(api_task)
    await world.wait_for_song()
    await world.settle()
    before = bot_messages(world)
    status, _ = await post(world, real_path, json.dumps(evil_result(canary, api_task)).encode())
    assert status == 200
    await world.settle()
    assert canary.hits == [] and bot_messages(world) == before
    (task,) = await world.repo.tasks_in_states("delivered")
    assert task.refunded and task.result is not None and "canary" not in json.dumps(task.result)


@pytest.mark.parametrize(
    ("body", "content_type", "status", "error"),
    [
        (b"{not json", "application/json", 400, "body is not JSON"),
        (b"[1, 2, 3]", "application/json", 400, "body is not a JSON object"),
        (b'"a string"', "application/json", 400, "body is not a JSON object"),
        (b"\xff\xfe\x00{", "application/json", 400, "body is not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", 400, "body is not JSON"),
        (b'{"a": ' + b"1" * 5000 + b"}", "application/json", 400, "body is not JSON"),
        (b"success=true&task_id=x", "application/x-www-form-urlencoded", 415, "body must be JSON"),
        (b"--b\r\n\r\n--b--", "multipart/form-data; boundary=b", 415, "body must be JSON"),
        (b"{}", "text/html", 415, "body must be JSON"),
    ],
    ids=["broken", "array", "string", "bad-utf8", "deep-nesting", "huge-int", "form", "multipart", "html"],
)
async def test_malformed_callbacks_get_a_fixed_4xx(
    world: World, body: bytes, content_type: str, status: int, error: str
) -> None:
    await world.start_bot(callbacks=True)
    _, real_path = await pending_song(world)
    got, answer = await post(world, real_path, body, content_type)
    assert (got, json.loads(answer)) == (status, {"error": error})
    await world.settle()
    assert world.songs_in_channel() == []
    assert await world.repo.tasks_in_states("pending")


async def test_oversized_and_odd_requests(world: World) -> None:
    await world.start_bot(callbacks=True)
    _, real_path = await pending_song(world)
    async with aiohttp.ClientSession() as http:

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(20):
                yield b" " * 100_000  # no Content-Length: the limit applies while reading

        async with http.post(world.webhook_base + real_path, data=chunks()) as response:
            assert response.status == 413 and await response.json() == {"error": "body too large"}
        async with http.get(world.webhook_base + real_path) as response:
            assert response.status == 405
            assert (await response.read()).startswith(b'{"error"')
        async with http.post(world.webhook_base + "/admin", data=b"{}") as response:
            assert response.status == 404 and await response.json() == {"error": "Not Found"}
    assert world.songs_in_channel() == []
    assert await world.repo.tasks_in_states("pending")


async def test_malformed_http_is_one_quiet_log_line(world: World) -> None:
    """Strangers' broken requests are answered 400 by aiohttp and logged as one INFO line, no traceback."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(QuietProtocolErrors())
    handler.addFilter(RedactSecrets([DISCORD_TOKEN, PRODUCER_TOKEN]))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        await world.start_bot(callbacks=True)
        assert world.bot is not None and world.bot.webhook_port
        for garbage in (
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
            b"POST /callbacks/x HTTP/1.1\r\n\xff: 1\r\n\r\n",
        ):
            reader, writer = await asyncio.open_connection("127.0.0.1", world.bot.webhook_port)
            writer.write(garbage)
            await writer.drain()
            answer = await reader.read()
            writer.close()
            assert answer == b"" or answer.split(b" ", 2)[1] == b"400"
    finally:
        root.removeHandler(handler)
    text = stream.getvalue()
    assert "Traceback" not in text and "ERROR aiohttp.server" not in text
    assert "INFO aiohttp.server: Malformed HTTP request refused (400" in text
