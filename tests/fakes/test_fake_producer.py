"""The fake Producer API behaves like the documented one, over real sockets."""

from __future__ import annotations

import asyncio
import io
import zipfile
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.fakes.fake_producer import MODELS, FakeProducer

TOKEN = "fake-producer-token"
LYRIC = "[Verse]\nWoke up with the sun in my eyes\nNo clouds above just blue in the skies"


class CallbackReceiver:
    """A tiny webhook endpoint on 127.0.0.1 that records what it was sent, in order."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.events: list[str] = []
        self.status = 200
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/callback", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/callback"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.json())
        self.events.append("callback")
        return web.Response(status=self.status)


@pytest.fixture
async def fake() -> AsyncIterator[FakeProducer]:
    producer = FakeProducer(latency=0.02)
    await producer.start()
    yield producer
    await producer.close()
    assert producer.background_errors == []


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def receiver() -> AsyncIterator[CallbackReceiver]:
    endpoint = CallbackReceiver()
    await endpoint.start()
    yield endpoint
    await endpoint.close()


async def post(
    http: aiohttp.ClientSession, fake: FakeProducer, path: str, body: Any, token: str | None = TOKEN
) -> tuple[int, Any]:
    headers = {"authorization": f"Bearer {token}"} if token is not None else {}
    async with http.post(fake.base_url + path, json=body, headers=headers) as response:
        return response.status, await response.json()


async def produce_song(http: aiohttp.ClientSession, fake: FakeProducer, **extra: Any) -> dict[str, Any]:
    body = {"action": "generate", "model": "FUZZ-2.0 Pro", "prompt": "A song for Christmas", **extra}
    status, result = await post(http, fake, "/producer/audios", body)
    assert status == 200, result
    return result["data"][0]


async def retrieve(http: aiohttp.ClientSession, fake: FakeProducer, task_id: str) -> dict[str, Any]:
    status, record = await post(http, fake, "/producer/tasks", {"action": "retrieve", "id": task_id})
    assert status == 200
    return record


# ---------------------------------------------------------------- modes


async def test_sync_generate_holds_request_and_returns_guide_shaped_song(fake, http):
    """Without callback_url or async, the final body comes back on the same request."""
    status, body = await post(
        http, fake, "/producer/audios", {"action": "generate", "model": "FUZZ-2.0 Pro", "prompt": "Xmas"}
    )
    assert status == 200
    assert body["success"] is True
    assert set(body) == {"success", "task_id", "trace_id", "data"}
    (song,) = body["data"]
    assert set(song) == {
        "id", "title", "image_url", "lyric", "audio_url", "video_url", "image_id", "topic",
        "seed", "sound", "created_at", "model", "progress", "state", "duration",
    }  # fmt: skip
    assert song["audio_url"] == fake.media_url(f"{song['id']}.mp3")
    assert song["image_url"] == fake.media_url(f"{song['id']}.jpg")
    assert song["image_id"] == song["id"]
    assert song["video_url"] is None and song["topic"] is None
    assert isinstance(song["seed"], str) and isinstance(song["duration"], str)
    assert song["duration"] == "135.2330158730159"
    assert song["sound"] == "Xmas"
    assert song["model"] == "FUZZ-2.0 Pro"
    assert (song["progress"], song["state"]) == ("100%", "succeeded")
    assert song["created_at"].endswith("Z")
    assert song["title"] == "Untitled"
    assert song["lyric"].startswith("[Verse 1]")
    assert fake.tasks[body["task_id"]].mode == "sync"


async def test_custom_lyric_gives_title_from_first_sung_line(fake, http):
    """A custom-lyric song keeps the lyric and is titled by its first sung line."""
    song = await produce_song(http, fake, prompt="", lyric=LYRIC, custom=True)
    assert song["title"] == "Woke up with the sun in my eyes"
    assert song["lyric"] == LYRIC
    assert song["sound"] == ""


async def test_instrumental_and_explicit_title(fake, http):
    """Instrumental songs carry "[Instrumental]"; a request title wins over derivation."""
    song = await produce_song(http, fake, instrumental=True, title="Snow")
    assert song["lyric"] == "[Instrumental]"
    assert song["title"] == "Snow"


async def test_async_mode_answers_task_id_then_record_finishes(fake, http):
    """async:true answers {task_id} at once; the record gains response only when finished."""
    fake.auto_complete = False
    body = {"action": "generate", "model": "FUZZ-2.0", "prompt": "rain", "async": True}
    status, answer = await post(http, fake, "/producer/audios", body)
    assert status == 200
    assert set(answer) == {"task_id"}
    task_id = answer["task_id"]

    pending = await retrieve(http, fake, task_id)
    assert "response" not in pending and "finished_at" not in pending and "elapsed" not in pending
    preview = {"audio_url": fake.media_url(f"preview-{task_id}.mp3"), "state": "running"}
    assert pending["data"] == [{**preview, "progress": "0%"}]
    assert pending["id"] == task_id and pending["type"] == "audios"
    assert pending["request"] == body
    for key in ("_id", "trace_id", "api_id", "application_id", "credential_id", "user_id"):
        assert isinstance(pending[key], str) and pending[key]

    await fake.complete(task_id)
    done = await retrieve(http, fake, task_id)
    assert done["response"]["success"] is True
    assert done["response"] == fake.tasks[task_id].response
    assert "data" not in done
    assert done["elapsed"] == pytest.approx(done["finished_at"] - done["created_at"], abs=0.002)
    assert fake.callbacks_sent == []


async def test_async_mode_auto_completes_after_latency(fake, http):
    """With auto_complete, an async task finishes on its own shortly after submission."""
    _, answer = await post(http, fake, "/producer/audios", {"action": "generate", "prompt": "x", "async": True})
    task = fake.tasks[answer["task_id"]]
    await fake.wait_for(lambda: task.finished)
    assert task.response["data"][0]["model"] == "FUZZ-2.0"


async def test_callback_mode_posts_final_body(fake, http, receiver):
    """callback_url answers {success, task_id} and later POSTs the record's response."""
    body = {"action": "generate", "model": "FUZZ-2.0 Pro", "prompt": "x", "callback_url": receiver.url}
    status, answer = await post(http, fake, "/producer/audios", body)
    assert (status, answer["success"]) == (200, True)
    await fake.wait_for_callbacks(1)
    assert receiver.bodies == [fake.tasks[answer["task_id"]].response]
    assert receiver.bodies[0]["task_id"] == answer["task_id"]
    assert fake.callbacks_sent == [(receiver.url, 200, receiver.bodies[0])]


async def test_duplicate_callbacks_are_delivered(fake, http, receiver):
    """duplicate_callbacks sends the same body several times."""
    fake.script(duplicate_callbacks=3)
    await post(http, fake, "/producer/audios", {"action": "generate", "prompt": "x", "callback_url": receiver.url})
    await fake.wait_for_callbacks(3)
    assert len(receiver.bodies) == 3
    assert receiver.bodies[0] == receiver.bodies[1] == receiver.bodies[2]


async def test_dropped_callback_leaves_only_the_record(fake, http, receiver):
    """drop_callback finishes the task without calling back; polling still sees it."""
    fake.script(drop_callback=True)
    _, answer = await post(
        http, fake, "/producer/audios", {"action": "generate", "prompt": "x", "callback_url": receiver.url}
    )
    task = fake.tasks[answer["task_id"]]
    await fake.wait_for(lambda: task.finished)
    await asyncio.sleep(0.05)
    assert receiver.bodies == [] and fake.callbacks_sent == []
    assert (await retrieve(http, fake, task.task_id))["response"]["success"] is True


@pytest.mark.parametrize(("before", "expected"), [(True, ["callback", "response"]), (False, ["response", "callback"])])
async def test_callback_ordering_relative_to_submit_response(fake, http, receiver, before, expected):
    """callback_before_response delivers the callback before the submit answer; normally after."""
    fake.script(callback_before_response=before)
    await post(http, fake, "/producer/audios", {"action": "generate", "prompt": "x", "callback_url": receiver.url})
    receiver.events.append("response")
    await fake.wait_for_callbacks(1)
    assert receiver.events == expected


async def test_receiver_status_is_recorded(fake, http, receiver):
    """A receiver that answers 500 shows up as such in callbacks_sent; nothing is retried."""
    receiver.status = 500
    await post(http, fake, "/producer/audios", {"action": "generate", "prompt": "x", "callback_url": receiver.url})
    sent = await fake.wait_for_callbacks(1)
    assert sent[0][1] == 500
    await asyncio.sleep(0.05)
    assert len(fake.callbacks_sent) == 1


async def test_send_callback_resends_by_hand(fake, http, receiver):
    """send_callback re-delivers the final body, or a custom body to a custom URL."""
    _, answer = await post(
        http, fake, "/producer/audios", {"action": "generate", "prompt": "x", "callback_url": receiver.url}
    )
    await fake.wait_for_callbacks(1)
    assert await fake.send_callback(answer["task_id"]) == 200
    assert await fake.send_callback(answer["task_id"], {"hello": 1}, url=receiver.url) == 200
    assert receiver.bodies[1] == receiver.bodies[0] and receiver.bodies[2] == {"hello": 1}


# ---------------------------------------------------------------- outcomes


async def test_failure_outcome_body(fake, http, receiver):
    """A failed task calls back with success:false, error{code,message} and empty data."""
    fake.script(outcome="failure", error_code="forbidden", error_message="blocked")
    _, answer = await post(
        http, fake, "/producer/audios", {"action": "generate", "prompt": "x", "callback_url": receiver.url}
    )
    await fake.wait_for_callbacks(1)
    task = fake.tasks[answer["task_id"]]
    assert receiver.bodies[0] == {
        "success": False,
        "task_id": task.task_id,
        "trace_id": task.trace_id,
        "error": {"code": "forbidden", "message": "blocked"},
        "data": [],
    }


async def test_failure_string_error_and_partial(fake, http):
    """The plain-string error and partial-success shapes come back as scripted."""
    fake.script(outcome="failure_string_error")
    fake.script(outcome="partial")
    _, first = await post(http, fake, "/producer/audios", {"action": "generate", "prompt": "x"})
    _, second = await post(http, fake, "/producer/audios", {"action": "generate", "prompt": "x"})
    assert first == {"success": False, "error": "provider timeout"}
    assert second["success"] is False and second["error"]["code"] == "api_error"
    (song,) = second["data"]
    async with http.get(song["audio_url"]) as response:
        assert response.status == 200


async def test_never_stays_pending_until_completed(fake, http, receiver):
    """outcome=never keeps the task pending; complete() finishes it and calls back."""
    fake.script(outcome="never")
    _, answer = await post(
        http, fake, "/producer/audios", {"action": "generate", "prompt": "x", "callback_url": receiver.url}
    )
    await asyncio.sleep(0.1)
    assert "response" not in await retrieve(http, fake, answer["task_id"])
    await fake.complete(answer["task_id"])
    assert len(fake.callbacks_sent) == 1
    assert (await retrieve(http, fake, answer["task_id"]))["response"]["success"] is True


async def test_script_fifo_and_audio_settings(fake, http):
    """Scripts apply to tasks in order; audio_size, duration, title and content_type stick."""
    fake.script(audio_size=1000, duration="12.5", title="One", content_type="audio/mp4")
    first = await produce_song(http, fake)
    second = await produce_song(http, fake)
    assert (first["title"], first["duration"]) == ("One", "12.5")
    assert second["title"] == "Untitled"
    async with http.get(first["audio_url"]) as response:
        assert response.content_type == "audio/mp4"
        assert len(await response.read()) == 1000


# ---------------------------------------------------------------- validation and errors


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"model": "FUZZ-2.0", "prompt": "x"}, "action is required."),
        ({"action": "dance", "prompt": "x"}, "action is invalid."),
        ({"action": "generate", "model": "chirp-v4", "prompt": "x"}, "model is invalid."),
        ({"action": "generate", "prompt": "x" * 201}, "prompt must be less than or equal 200 characters."),
        ({"action": "generate"}, "prompt or lyric is required."),
        ({"action": "extend", "prompt": "x"}, "audio_id is required."),
        ({"action": "cover", "audio_id": "nope"}, "audio_id is invalid."),
        ({"action": "upload_extend", "audio_id": "nope", "continue_at": 1}, "audio_id is invalid."),
        (
            {"action": "generate", "prompt": "x", "lyrics_strength": 1.5},
            "lyrics_strength must be between 0 and 1.",
        ),
        (
            {"action": "generate", "prompt": "x", "sound_strength": 0.1},
            "sound_strength must be between 0.2 and 1.",
        ),
        (
            {"action": "generate", "prompt": "x", "cover_strength": 0.1},
            "cover_strength must be between 0.2 and 1.",
        ),
        ({"action": "generate", "prompt": "x", "weirdness": -0.1}, "weirdness must be between 0 and 1."),
    ],
)
async def test_audios_validation(fake, http, body, message):
    """Invalid submissions get 400 bad_request with the API-style message, and are recorded."""
    status, answer = await post(http, fake, "/producer/audios", body)
    assert status == 400
    assert answer["success"] is False
    assert answer["error"] == {"code": "bad_request", "message": message}
    assert isinstance(answer["trace_id"], str)
    assert fake.audio_requests == [body]
    assert fake.tasks == {}


async def test_prompt_of_exactly_200_chars_and_every_model_are_accepted(fake, http):
    """The limit is inclusive and all documented models are valid."""
    for model in MODELS:
        await produce_song(http, fake, model=model, prompt="x" * 200)
    assert len(fake.tasks) == len(MODELS)


async def test_edit_actions_need_their_parameters(fake, http):
    """extend needs continue_at, replace_section an ordered window; valid ones succeed."""
    song_id = (await produce_song(http, fake))["id"]
    base = {"model": "FUZZ-2.0 Pro", "audio_id": song_id}
    cases = [
        ({"action": "extend", "continue_at": "3"}, "continue_at is required when extend audio."),
        ({"action": "replace_section", "replace_section_start": 3}, "replace_section_start and "
         "replace_section_end are required."),
        ({"action": "replace_section", "replace_section_start": 70, "replace_section_end": 3},
         "replace_section_start must be less than replace_section_end."),
    ]  # fmt: skip
    for extra, message in cases:
        status, answer = await post(http, fake, "/producer/audios", {**base, **extra})
        assert (status, answer["error"]["message"]) == (400, message)
    for extra in (
        {"action": "extend", "continue_at": 3, "title": "Extend"},
        {"action": "replace_section", "replace_section_start": 3, "replace_section_end": 70},
        {"action": "swap_instrumentals", "prompt": "Happy", "weirdness": 0.6},
        {"action": "variation"},
    ):
        status, answer = await post(http, fake, "/producer/audios", {**base, **extra})
        assert status == 200 and answer["success"] is True, answer


async def test_stems_item_has_no_id_and_links_a_zip(fake, http):
    """stems returns the guide's id-less item; the zip is a real archive."""
    song = await produce_song(http, fake, lyric=LYRIC, prompt="")
    _, answer = await post(http, fake, "/producer/audios", {"action": "stems", "audio_id": song["id"]})
    (item,) = answer["data"]
    assert item == {
        "title": song["title"],
        "lyric": "",
        "stems_url": fake.media_url(f"{answer['task_id']}.zip"),
        "model": "",
        "progress": "100%",
        "state": "succeeded",
    }
    async with http.get(item["stems_url"]) as response:
        assert response.content_type == "application/zip"
        names = zipfile.ZipFile(io.BytesIO(await response.read())).namelist()
    assert names == ["vocals.mp3", "instrumental.mp3"]


@pytest.mark.parametrize(("token", "status", "code"), [(None, 400, "no_token"), ("wrong", 401, "invalid_token")])
async def test_auth_errors(fake, http, token, status, code):
    """Missing token is 400 no_token; a wrong one is 401 invalid_token; both are recorded."""
    got, answer = await post(http, fake, "/producer/audios", {"action": "generate", "prompt": "x"}, token=token)
    assert (got, answer["error"]["code"]) == (status, code)
    assert len(fake.audio_requests) == 1 and fake.tasks == {}


async def test_fail_next_applies_the_given_number_of_times(fake, http):
    """fail_next answers the scripted gateway error, then the path works again."""
    fake.fail_next("/producer/tasks", status=429, code="too_many_requests", times=2)
    body = {"action": "retrieve", "id": "x"}
    results = [await post(http, fake, "/producer/tasks", body) for _ in range(3)]
    assert [status for status, _ in results] == [429, 429, 200]
    assert results[0][1]["error"] == {"code": "too_many_requests", "message": "too many requests"}
    assert results[2][1] == {}
    assert len(fake.task_requests) == 3


async def test_fail_next_with_message_and_delay_drives_client_timeouts(fake, http):
    """A delayed failure lets a client's timeout fire first."""
    fake.fail_next("/producer/audios", status=504, code="timeout", message="upstream", delay=1)
    timeout = aiohttp.ClientTimeout(total=0.2)
    with pytest.raises(TimeoutError):
        async with http.post(fake.base_url + "/producer/audios", json={}, timeout=timeout):
            pass
    assert fake.audio_requests == [{}]


async def test_unknown_path_is_no_api(fake, http):
    """Unknown paths and methods get 404 no_api."""
    status, answer = await post(http, fake, "/producer/persona", {})
    assert (status, answer["error"]["code"]) == (404, "no_api")
    async with http.get(fake.base_url + "/producer/audios") as response:
        assert response.status == 404


# ---------------------------------------------------------------- tasks


async def test_retrieve_unknown_and_batch(fake, http):
    """Unknown ids give {}; retrieve_batch lists only known records with a count."""
    fake.auto_complete = False
    assert await retrieve(http, fake, "missing") == {}
    ids = []
    for _ in range(2):
        _, answer = await post(http, fake, "/producer/audios", {"action": "generate", "prompt": "x", "async": True})
        ids.append(answer["task_id"])
    await fake.complete(ids[0])
    status, batch = await post(http, fake, "/producer/tasks", {"action": "retrieve_batch", "ids": [*ids, "missing"]})
    assert status == 200 and batch["count"] == 2
    assert [item["id"] for item in batch["items"]] == ids
    assert "response" in batch["items"][0] and "response" not in batch["items"][1]
    status, answer = await post(http, fake, "/producer/tasks", {"action": "retrieve"})
    assert (status, answer["error"]["code"]) == (400, "bad_request")


async def test_task_requests_are_timestamped(fake, http):
    """Each poll is recorded with loop time so tests can check the client's cadence."""
    await post(http, fake, "/producer/tasks", {"action": "retrieve", "id": "a"})
    await asyncio.sleep(0.05)
    await post(http, fake, "/producer/tasks", {"action": "retrieve", "id": "b"})
    (t1, b1), (t2, b2) = fake.task_requests
    assert t2 - t1 >= 0.05 and (b1["id"], b2["id"]) == ("a", "b")


# ---------------------------------------------------------------- other endpoints


async def test_upload_fetches_local_urls_and_enables_upload_actions(fake, http):
    """Upload fetches 127.0.0.1 URLs, issues an audio_id valid only for upload_* actions."""
    fake.set_media("mine.mp3", b"a" * 5000)
    status, answer = await post(http, fake, "/producer/upload", {"audio_url": fake.media_url("mine.mp3")})
    assert status == 200 and answer["success"] is True
    data = answer["data"]
    assert data["lyric"].startswith("[Verse 1]\n") and data["audio_url"] == fake.media_url("mine.mp3")
    assert fake.upload_fetches == [(fake.media_url("mine.mp3"), 200, 5000)]

    extend = {"action": "upload_extend", "audio_id": data["audio_id"], "continue_at": 10, "prompt": "more"}
    assert (await post(http, fake, "/producer/audios", extend))[0] == 200
    cover = {"action": "cover", "audio_id": data["audio_id"], "prompt": "x"}
    assert (await post(http, fake, "/producer/audios", cover))[1]["error"]["message"] == "audio_id is invalid."


async def test_upload_errors_and_remote_urls(fake, http):
    """Missing audio_url is 400; a failing local fetch is 500; remote URLs are never fetched."""
    assert (await post(http, fake, "/producer/upload", {}))[0] == 400
    status, answer = await post(http, fake, "/producer/upload", {"audio_url": fake.media_url("gone.mp3")})
    assert (status, answer["error"]["message"]) == (500, "fetch failed")
    status, _ = await post(http, fake, "/producer/upload", {"audio_url": "https://cdn.example.com/a.mp3"})
    assert status == 200
    assert [fetch[1] for fetch in fake.upload_fetches] == [404]
    assert len(fake.upload_requests) == 3


async def test_lyrics_wav_and_videos(fake, http):
    """Lyrics, WAV and video endpoints answer inline with the guide's shapes."""
    status, lyrics = await post(http, fake, "/producer/lyrics", {"prompt": "a song about rain"})
    assert status == 200 and lyrics["data"]["lyrics"].startswith("[Verse 1]\n") and lyrics["data"]["title"]
    assert (await post(http, fake, "/producer/lyrics", {}))[0] == 400

    song = await produce_song(http, fake)
    _, wav = await post(http, fake, "/producer/wav", {"audio_id": song["id"]})
    assert wav["data"] == [{"title": song["title"], "file_url": fake.media_url(f"{song['id']}.wav")}]
    _, video = await post(http, fake, "/producer/videos", {"audio_id": song["id"]})
    assert video["data"] == {"video_url": fake.media_url(f"{song['id']}.mp4")}
    assert {"task_id", "trace_id"} <= set(wav) and {"task_id", "trace_id"} <= set(video)
    async with http.get(wav["data"][0]["file_url"]) as response:
        assert response.content_type == "audio/wav" and len(await response.read()) == 64 * 1024
    assert (await post(http, fake, "/producer/wav", {"audio_id": "nope"}))[0] == 400
    assert (len(fake.lyrics_requests), len(fake.wav_requests), len(fake.video_requests)) == (2, 2, 1)


# ---------------------------------------------------------------- media


async def test_song_media_is_deterministic_with_headers(fake, http):
    """Song audio and cover art are served with type, length and stable bytes."""
    song = await produce_song(http, fake)
    async with http.get(song["audio_url"]) as response:
        audio = await response.read()
        assert response.content_type == "audio/mpeg"
        assert response.content_length == 64 * 1024
    assert audio == fake.media_bytes(f"{song['id']}.mp3") and audio.startswith(b"ID3")
    async with http.get(song["image_url"]) as response:
        assert response.content_type == "image/jpeg" and (await response.read()).startswith(b"\xff\xd8")
    assert fake.media_requests == [f"/media/{song['id']}.mp3", f"/media/{song['id']}.jpg"]


async def test_set_media_drip_status_and_unknown(fake, http):
    """set_media can drip slowly or fail with a status; unknown files are 404."""
    loop = asyncio.get_running_loop()
    fake.set_media("slow.mp3", b"s" * 4096, drip_delay=0.05)
    started = loop.time()
    async with http.get(fake.media_url("slow.mp3")) as response:
        assert await response.read() == b"s" * 4096
    assert loop.time() - started >= 0.15
    fake.set_media("broken.mp3", b"denied", "text/plain", status=403)
    async with http.get(fake.media_url("broken.mp3")) as response:
        assert (response.status, await response.text()) == (403, "denied")
    async with http.get(fake.media_url("nothing.mp3")) as response:
        assert response.status == 404


# ---------------------------------------------------------------- lifecycle


async def test_close_releases_a_held_sync_request(http):
    """Closing the fake answers a held-open request instead of hanging or leaking tasks."""
    producer = FakeProducer(auto_complete=False)
    await producer.start()
    request = asyncio.create_task(post(http, producer, "/producer/audios", {"action": "generate", "prompt": "x"}))
    await producer.wait_for_task_count(1)
    await producer.close()
    status, answer = await request
    assert (status, answer["error"]["code"]) == (503, "api_error")


async def test_wait_for_times_out(fake):
    """wait_for raises TimeoutError when the condition never holds."""
    with pytest.raises(TimeoutError):
        await fake.wait_for(lambda: fake.tasks, timeout=0.05)


async def test_pending_progress_goes_0_45_100_where_the_shape_says(fake, http):
    """A pending record reports progress (set by hand or by a timeline) in data[], at the top, or in a
    response without `success`; it never gains `finished_at` until the task is finished."""
    fake.auto_complete = False
    body = {"action": "generate", "model": "FUZZ-2.0", "prompt": "rain", "async": True}
    task_id = (await post(http, fake, "/producer/audios", body))[1]["task_id"]
    seen = []
    for value in ("0%", "45%", "100%"):
        fake.set_progress(task_id, value)
        seen.append((await retrieve(http, fake, task_id))["data"][0]["progress"])
    assert seen == ["0%", "45%", "100%"]

    fake.progress_shape = "top"
    assert (await retrieve(http, fake, task_id))["progress"] == "100%"
    fake.progress_shape = "response"
    report = await retrieve(http, fake, task_id)
    assert "success" not in report["response"] and report["response"]["data"][0]["progress"] == "100%"
    assert "finished_at" not in report

    fake.tasks[task_id].progress = None
    fake.progress_timeline = ((0, "0%"), (3600, "45%"))
    assert (await retrieve(http, fake, task_id))["response"]["data"][0]["progress"] == "0%"
    fake.progress_timeline = ((0, "0%"), (0, "45%"))
    assert (await retrieve(http, fake, task_id))["response"]["data"][0]["progress"] == "45%"
