"""A bounded, seeded fuzz of the webhook listener on 127.0.0.1: random paths, methods, types, bodies.

With one real task waiting for its result, `REQUESTS` random HTTP requests and `RAW_REQUESTS`
random byte streams hit the bot's listener. Nothing may answer 5xx, nothing may crash the listener,
no error body may echo the input, the bot may post nothing, fetch nothing (a canary server stands
for every URL in the bodies) and store nothing; and afterwards the real callback still works.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import string
from collections import Counter
from typing import Any

import aiohttp
import pytest

from tests.harness import World
from tests.reliability_helpers import Canary, bot_messages, pending_song

REQUESTS = 2000
RAW_REQUESTS = 200
SEED = 0x5EC12E7
MARKER = "FUZZMARK"

METHODS = ["POST"] * 8 + ["GET", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
CONTENT_TYPES = [
    "application/json",
    "application/json",
    "application/json; charset=utf-8",
    "application/vnd.api+json",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/octet-stream",
    "",
    "json",
    "\u00e9/\u00e9",
]
ODD_TEXT = [
    "@everyone",
    "<@&1234>",
    "**bold** [x](https://evil.example)",
    "\u202eevil",
    "\x00",
    "\ud83c\udfb5" if False else "🎵",
    "A" * 3000,
    "../../etc/passwd",
    "%s%s%n",
    "${jndi:ldap://x}",
    MARKER,
]


def random_text(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.3:
        return rng.choice(ODD_TEXT)
    alphabet = string.printable + "éü漢字🎶\u200b\u202e"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))


def random_json(rng: random.Random, canary: Canary, depth: int = 0) -> Any:
    kinds = ["str", "int", "float", "bool", "null", "url"] + (["list", "dict", "result"] if depth < 4 else [])
    kind = rng.choice(kinds)
    if kind == "str":
        return random_text(rng)
    if kind == "int":
        return rng.choice([0, -1, 2**63, -(2**70), rng.randint(-1000, 1000)])
    if kind == "float":
        return rng.choice([0.5, -1e308, 1e308, 3.14159])
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "null":
        return None
    if kind == "url":
        return f"{canary.base}/{MARKER}/{rng.randint(0, 10**6)}.mp3"
    if kind == "list":
        return [random_json(rng, canary, depth + 1) for _ in range(rng.randint(0, 4))]
    if kind == "dict":
        return {random_text(rng): random_json(rng, canary, depth + 1) for _ in range(rng.randint(0, 4))}
    return {  # something shaped like a real result, pointing at the canary
        "success": rng.choice([True, False, "true", None]),
        "task_id": rng.choice([random_text(rng), "forged"]),
        "data": [
            {
                "id": random_text(rng),
                "title": random_text(rng),
                "audio_url": f"{canary.base}/{MARKER}.mp3",
                "image_url": f"{canary.base}/{MARKER}.jpg",
                "stems_url": f"{canary.base}/{MARKER}.zip",
                "duration": random_json(rng, canary, depth + 1),
            }
        ],
        "error": random_json(rng, canary, depth + 1),
    }


def random_body(rng: random.Random, canary: Canary) -> bytes:
    roll = rng.random()
    if roll < 0.55:
        return json.dumps(random_json(rng, canary), ensure_ascii=rng.random() < 0.5).encode()
    if roll < 0.7:
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 300)))
    if roll < 0.8:
        depth = rng.randint(500, 50_000)
        return b"[" * depth + b"]" * rng.choice([depth, 0])
    if roll < 0.9:
        return json.dumps(random_json(rng, canary)).encode()[: rng.randint(0, 50)]  # truncated
    return b""


def random_path(rng: random.Random, real_secret: str) -> str:
    roll = rng.random()
    if roll < 0.35:
        length = rng.choice([0, 1, 19, 20, 43, 44, 128, 129, 500])
        return "/callbacks/" + "".join(rng.choice(string.ascii_letters + string.digits + "-_") for _ in range(length))
    if roll < 0.5:  # near misses of the real secret
        cut = rng.randint(0, len(real_secret) - 1)
        mutated = real_secret[:cut] + rng.choice("xyzXYZ019-_") + real_secret[cut + 1 :]
        return "/callbacks/" + (mutated if mutated != real_secret else mutated + "x") + "#near"
    if roll < 0.65:
        return "/callbacks/" + "".join(f"%{rng.getrandbits(8):02X}" for _ in range(rng.randint(1, 60)))
    if roll < 0.75:
        return rng.choice(["/", "/healthz", "/callbacks", "/callbacks/", "/callbacks/a/b", "/.env", "/admin"])
    if roll < 0.85:
        return "/" + "/".join(random_text(rng).replace("?", "").replace("#", "") for _ in range(rng.randint(1, 4)))
    return "/callbacks/" + "A" * rng.randint(1000, 6000)


async def test_fuzz_the_webhook_listener(world: World, canary: Canary, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    await world.start_bot(callbacks=True)
    api_task, real_path = await pending_song(world)
    real_secret = real_path.rsplit("/", 1)[1]
    before = bot_messages(world)
    rng = random.Random(SEED)
    statuses: Counter[int] = Counter()
    near_misses = 0
    base = world.webhook_base
    async with aiohttp.ClientSession() as http:
        for _ in range(REQUESTS):
            method = rng.choice(METHODS)
            path = random_path(rng, real_secret)
            if path.endswith("#near"):  # a one-character mutation of the real task's secret
                path = path.removesuffix("#near")
                near_misses += 1
            body = random_body(rng, canary)
            headers = {"content-type": rng.choice(CONTENT_TYPES)} if rng.random() < 0.9 else {}
            if rng.random() < 0.1:
                headers[random_text(rng).strip() or "x-odd"] = "1"
            try:
                async with http.request(
                    method, base + path, data=body, headers=headers, skip_auto_headers=["Content-Type"]
                ) as response:
                    answer = await response.read()
                    statuses[response.status] += 1
            except (ValueError, aiohttp.ClientError) as exc:
                # The client refused to send it (an illegal header or URL): nothing reached the bot.
                statuses[-1] += 1
                assert not isinstance(exc, aiohttp.ServerDisconnectedError), (method, path)
                continue
            assert response.status < 500, (method, path, body[:200], answer)
            if response.status >= 400 and answer:
                if response.content_type == "application/json":  # the bot's own answer: fixed strings
                    assert len(answer) < 100 and MARKER.encode() not in answer, answer
                    assert list(json.loads(answer)) == ["error"]
                else:  # aiohttp's HTTP parser refused the request itself (no bot code ran)
                    assert response.status == 400 and response.content_type == "text/plain", answer
                    statuses[-400] += 1

        for _ in range(RAW_REQUESTS):
            reader, writer = await asyncio.open_connection("127.0.0.1", world.bot.webhook_port)  # type: ignore[union-attr]
            noise = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 2000)))
            prefix = rng.choice([b"", b"POST /callbacks/x HTTP/1.1\r\n", b"GET / HTTP/9.9\r\n", b"POST " + b"/" * 9000])
            writer.write(prefix + noise + b"\r\n\r\n")
            await writer.drain()
            line = await asyncio.wait_for(reader.readline(), 5)
            writer.close()
            if line:
                status = int(line.split()[1])
                statuses[status] += 1
                assert status < 500, line

        await world.settle()
        # Still healthy, and still the door for the real result.
        async with http.get(base + "/healthz") as response:
            assert response.status == 200 and (await response.json())["pending_tasks"] == 1
    assert canary.hits == [], canary.hits[:5]
    assert bot_messages(world) == before
    (task,) = await world.repo.tasks_in_states("pending")
    assert task.result is None
    assert not any(record.name == "bot.app.webhook" and record.levelno >= logging.ERROR for record in caplog.records)
    assert sum(statuses.values()) >= REQUESTS  # every request answered (or refused by the client itself)
    assert statuses[404] > 100 and statuses[400] > 10  # the fuzz did reach the handlers

    await world.producer.complete(api_task)
    assert world.producer.callbacks_sent[-1][1] == 200
    await world.wait_for_song()
    assert near_misses > 200
    print(
        f"webhook fuzz: {REQUESTS} requests ({near_misses} near misses of the real secret) + {RAW_REQUESTS} raw "
        f"streams, statuses {dict(sorted(statuses.items()))}"
    )
