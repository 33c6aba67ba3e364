"""The Producer client over real HTTP against the fake API: typed results, typed errors, safe retries."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.producer.client import ProducerClient, ProducerError
from bot.producer.models import parse_result
from tests.conftest import PRODUCER_TOKEN
from tests.fakes.fake_producer import FakeProducer

GENERATE = {"action": "generate", "model": "FUZZ-2.0 Pro", "prompt": "a song about rain", "lyric": "", "custom": False}


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
def client(session: aiohttp.ClientSession, producer: FakeProducer) -> ProducerClient:
    return ProducerClient(session, producer.base_url, PRODUCER_TOKEN, timeout=2.0, backoff_base=0.01)


async def test_async_submit_then_poll(client: ProducerClient, producer: FakeProducer) -> None:
    """`async: true` returns a task id; the task record carries `response` once finished."""
    submission = await client.submit_audio({**GENERATE, "async": True})
    assert submission.task_id and submission.response is None
    pending = await client.retrieve_task(submission.task_id)
    assert pending is not None and not pending.finished
    await producer.wait_for(lambda: producer.tasks[submission.task_id].finished)
    (record,) = await client.retrieve_tasks([submission.task_id, "unknown-id"])
    assert record.finished and record.response is not None
    (song,) = parse_result(record.response).deliverable
    assert isinstance(song.duration, float) and song.model == "FUZZ-2.0 Pro"


async def test_sync_submit_returns_result_inline(client: ProducerClient) -> None:
    submission = await client.submit_audio(GENERATE)
    assert submission.response is not None
    assert parse_result(submission.response).deliverable


async def test_unknown_task_is_none(client: ProducerClient) -> None:
    assert await client.retrieve_task("no-such-task") is None


@pytest.mark.parametrize(
    ("status", "code"),
    [(401, "invalid_token"), (403, "used_up"), (403, "forbidden"), (400, "bad_request"), (500, "api_error")],
)
async def test_errors_are_typed_and_not_retried(
    client: ProducerClient, producer: FakeProducer, status: int, code: str
) -> None:
    """Every HTTP error becomes one ProducerError with status, code, message and trace id; sent once."""
    producer.fail_next("/producer/audios", status=status, code=code, message="nope")
    with pytest.raises(ProducerError) as caught:
        await client.submit_audio({**GENERATE, "async": True})
    assert (caught.value.status, caught.value.code, caught.value.message) == (status, code, "nope")
    assert caught.value.trace_id
    assert len(producer.audio_requests) == 1


async def test_rate_limit_is_retried(client: ProducerClient, producer: FakeProducer) -> None:
    producer.fail_next("/producer/audios", status=429, code="too_many_requests", times=2)
    submission = await client.submit_audio({**GENERATE, "async": True})
    assert submission.task_id
    assert len(producer.audio_requests) == 3


async def test_rate_limit_gives_up(client: ProducerClient, producer: FakeProducer) -> None:
    producer.fail_next("/producer/audios", status=429, code="too_many_requests", times=10)
    with pytest.raises(ProducerError) as caught:
        await client.submit_audio({**GENERATE, "async": True})
    assert caught.value.code == "too_many_requests"
    assert len(producer.audio_requests) == 5


async def test_timeout_is_not_resent(session: aiohttp.ClientSession, producer: FakeProducer) -> None:
    """A submission that timed out may have been billed: it is reported, never re-sent."""
    client = ProducerClient(session, producer.base_url, PRODUCER_TOKEN, timeout=0.2)
    producer.fail_next("/producer/audios", status=500, code="api_error", delay=1.0)
    with pytest.raises(ProducerError) as caught:
        await client.submit_audio({**GENERATE, "async": True})
    assert caught.value.code == "timeout" and caught.value.ambiguous
    assert len(producer.audio_requests) == 1


async def test_token_never_in_errors_or_logs(
    session: aiohttp.ClientSession, producer: FakeProducer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = ProducerClient(session, producer.base_url, "wrong-token-abcdef", timeout=2.0)
    with pytest.raises(ProducerError) as caught:
        await wrong.submit_audio(GENERATE)
    assert caught.value.auth_failed
    unreachable = ProducerClient(session, "http://127.0.0.1:9", PRODUCER_TOKEN, timeout=2.0)
    with pytest.raises(ProducerError) as network:
        await unreachable.retrieve_task("x")
    assert network.value.code == "network"
    for text in (str(caught.value), repr(caught.value), str(network.value), caplog.text):
        assert "wrong-token-abcdef" not in text and PRODUCER_TOKEN not in text


async def test_upload_lyrics_wav_video(client: ProducerClient, producer: FakeProducer) -> None:
    """Every other endpoint returns its typed result."""
    producer.set_media("mine.mp3", b"ID3" + b"\0" * 100)
    upload = await client.upload(producer.media_url("mine.mp3"))
    assert upload.audio_id and producer.upload_requests[-1] == {"audio_url": producer.media_url("mine.mp3")}
    lyrics = await client.lyrics("a song about the sea")
    assert lyrics.lyrics.strip()
    submission = await client.submit_audio(GENERATE)
    assert submission.response is not None
    (song,) = parse_result(submission.response).deliverable
    assert song.id is not None
    wav = await client.wav(song.id)
    assert wav.file_url.endswith(".wav")
    assert (await client.video(song.id)).endswith(".mp4")
