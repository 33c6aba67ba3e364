"""Property-based tests (hypothesis) for everything that reads untrusted text or JSON.

Callback bodies and task records come from the network; times, titles and lyrics come from members.
For any input at all, each reader either returns something well-formed or raises its one documented
error; and what the bot renders from any of it stays inside Discord's limits. Runs are derandomized
so the suite stays deterministic.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import string
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.errors import InvalidInput
from bot.producer.lookup import Unconfirmed, match_records, secret_hash_of
from bot.producer.models import (
    MAX_SONGS_PER_RESULT,
    MESSAGE_LIMIT,
    MalformedResult,
    TaskRecord,
    parse_error_body,
    parse_result,
    parse_task_record,
)
from bot.songs import render
from bot.songs.actions import parse_at_line, parse_time
from bot.songs.validation import clean_text
from bot.storage.repository import SongRow, Task
from tests import rows
from tests.fakes.fake_discord import _validate_message

FUZZ = settings(max_examples=400, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
FUZZ_RENDER = settings(FUZZ, max_examples=150)
"""Rendering examples carry kilobytes of text each; fewer of them cover the limits just as well."""

# Any JSON value, as a callback body or a task record could carry it (NaN included: Python's json
# module accepts it on the wire).
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=25,
)
odd_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]) | st.sampled_from(list("*_~`|>#-[]()<@&!:\n")),
    max_size=300,
)
song_items = st.fixed_dictionaries(
    {},
    optional={
        "id": st.text(max_size=40) | st.integers() | st.none(),
        "title": odd_text | json_values,
        "audio_url": st.sampled_from(["https://cdn.example/a.mp3", "", "javascript:x", "http://a b"]) | json_values,
        "image_url": st.sampled_from(["https://cdn.example/a.jpg", "x"]) | json_values,
        "stems_url": st.sampled_from(["https://cdn.example/a.zip"]) | st.none(),
        "lyric": odd_text | json_values,
        "duration": st.sampled_from(["135.2330158730159", "nan", "inf", "-1", "1e400", ""]) | json_values,
        "seed": json_values,
        "model": json_values,
        "sound": odd_text | json_values,
    },
)
result_bodies = st.fixed_dictionaries(
    {},
    optional={
        "success": json_values,
        "task_id": json_values,
        "trace_id": json_values,
        "data": st.lists(song_items | json_values, max_size=15) | song_items | json_values,
        "error": json_values
        | st.fixed_dictionaries({}, optional={"code": json_values, "message": json_values | st.text(min_size=300)}),
    },
)


# -- callback bodies and task records ----------------------------------------------------------


@FUZZ
@given(json_values | result_bodies)
def test_parse_result_returns_a_sane_result_or_refuses_non_objects(body: Any) -> None:
    try:
        result = parse_result(body)
    except MalformedResult:
        assert not isinstance(body, dict)
        return
    assert isinstance(body, dict)
    assert len(result.deliverable) <= MAX_SONGS_PER_RESULT
    for song in result.deliverable:
        assert song.playable and isinstance(song.title, str) and song.title
        assert song.duration is None or (math.isfinite(song.duration) and song.duration >= 0)
        assert song.id is None or isinstance(song.id, str)
    assert result.error_message is None or (
        isinstance(result.error_message, str) and len(result.error_message) <= MESSAGE_LIMIT
    )
    assert isinstance(result.success, bool)


@FUZZ
@given(st.lists(st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=8), min_size=1, max_size=20, unique=True))
def test_well_formed_results_keep_every_song_up_to_the_cap(ids: list[str]) -> None:
    body = {
        "success": True,
        "data": [{"id": song_id, "audio_url": f"https://cdn/{song_id}.mp3", "duration": "61.5"} for song_id in ids],
    }
    result = parse_result(body)
    assert [song.id for song in result.deliverable] == ids[:MAX_SONGS_PER_RESULT]
    assert all(song.duration == 61.5 for song in result.deliverable)


@FUZZ
@given(
    json_values
    | st.fixed_dictionaries(
        {"id": json_values},
        optional={"response": json_values | result_bodies, "request": json_values, "created_at": json_values},
    )
)
def test_parse_task_record_never_raises(record: Any) -> None:
    parsed = parse_task_record(record)
    if parsed is None:
        return
    assert isinstance(record, dict) and isinstance(parsed.task_id, str) and parsed.task_id
    assert parsed.response is None or (isinstance(parsed.response, dict) and parsed.response)
    assert parsed.request is None or isinstance(parsed.request, dict)
    assert parsed.created_at is None or (math.isfinite(parsed.created_at) and parsed.created_at >= 0)
    # Finished exactly when the record carries a final response: a non-empty string, or an object
    # with `success` or `error` set, or any non-empty object once the record has `finished_at`.
    response = record.get("response")
    final = isinstance(response, str) and bool(response)
    if isinstance(response, dict) and response:
        final = (
            response.get("success") is not None or bool(response.get("error")) or record.get("finished_at") is not None
        )
    assert parsed.finished == final
    assert parsed.progress is None or 0 <= parsed.progress <= 100


@FUZZ
@given(json_values)
def test_parse_error_body_never_raises(body: Any) -> None:
    error = parse_error_body(body)
    assert isinstance(error.code, str) and error.code
    assert isinstance(error.message, str) and len(error.message) <= MESSAGE_LIMIT


# -- times -------------------------------------------------------------------------------------


@FUZZ
@given(
    st.text(max_size=60) | st.from_regex(r"\A\d{0,6}(:\d{0,6}){0,3}(\.\d{0,6})?\Z") | st.just("1:" + "9" * 5000 + ":00")
)
def test_parse_time_returns_a_finite_time_or_a_clear_refusal(text: str) -> None:
    try:
        seconds = parse_time("at", text)
    except InvalidInput as refusal:
        assert "`at`" in refusal.message and len(refusal.message) < 200
        return
    assert math.isfinite(seconds) and seconds >= 0


@FUZZ
@given(st.integers(0, 9), st.integers(0, 59), st.integers(0, 59), st.integers(0, 999))
def test_parse_time_reads_every_written_form(hours: int, minutes: int, seconds: int, millis: int) -> None:
    fraction = seconds + millis / 1000
    assert parse_time("t", f"{fraction}") == fraction
    assert parse_time("t", f"{minutes}:{seconds:02d}") == minutes * 60 + seconds
    assert (
        parse_time("t", f" {hours}:{minutes:02d}:{seconds:02d}.{millis:03d} ") == hours * 3600 + minutes * 60 + fraction
    )
    assert parse_time("t", f"{minutes}:{seconds:02d}.5") == minutes * 60 + seconds + 0.5


@FUZZ
@given(st.text(max_size=80), st.text(max_size=200))
def test_parse_at_line_never_raises_anything_else(first: str, rest: str) -> None:
    text = f"{first}\n{rest}"
    try:
        at, lyrics = parse_at_line(text)
    except InvalidInput:
        return
    if at is None:
        assert lyrics == text
    else:
        assert lyrics == rest and at >= 0


# -- member text -------------------------------------------------------------------------------


@FUZZ
@given(odd_text | st.text(), st.booleans())
def test_clean_text_strips_control_characters_or_refuses_clearly(text: str, multiline: bool) -> None:
    try:
        cleaned = clean_text("title", text, limit=100, required=True, multiline=multiline)
    except InvalidInput as refusal:
        assert refusal.message.startswith("`title`")
        return
    assert 0 < len(cleaned) <= 100
    assert not any(ch in cleaned for ch in "\x00\u202e\u200b\r")
    assert multiline or "\n" not in cleaned


def song_row(**fields: Any) -> SongRow:
    return rows.song_row(**{"task_id": 1, "channel_id": 2, "requester_id": 3, "title": "t", "guild_id": 1, **fields})


long_text = odd_text | st.text(min_size=2000, max_size=9000)


@FUZZ_RENDER
@given(
    title=long_text,
    prompt=long_text,
    lyric=long_text,
    model=st.none() | long_text,
    song_id=st.text(min_size=1, max_size=3000),
    audio_url=st.sampled_from(["https://cdn.example/a.mp3", "https://x/" + "a" * 3000, "https://x/(a) b", "ftp://x"]),
    image_url=st.none() | st.sampled_from(["https://cdn.example/a.jpg", "javascript:alert(1)", "https://x/a b.jpg"]),
    kind=st.sampled_from(["song", "stems"]),
    credits=st.none() | st.lists(st.integers(1, 2**63), max_size=200),
)
def test_every_song_embed_fits_discords_limits(
    title: str,
    prompt: str,
    lyric: str,
    model: str | None,
    song_id: str,
    audio_url: str,
    image_url: str | None,
    kind: str,
    credits: list[int] | None,
) -> None:
    row = song_row(
        id=song_id,
        title=title,
        prompt=prompt,
        lyric=lyric,
        model=model,
        audio_url=audio_url,
        image_url=image_url,
        kind=kind,
    )
    if credits is not None and "credits" in SongRow.__dataclass_fields__:  # songs written together (jams)
        row = dataclasses.replace(row, credits=credits)  # type: ignore[call-arg]
    note = f"Not attached: {'x' * 3000}. " + render.markdown_link("Download the audio", audio_url)
    for embed in (render.song_embed(row), render.song_embed(row, link_note=note)):
        payload = {"content": "<@3>, your song is ready.", "embeds": [embed.to_dict()]}
        errors: dict[str, Any] = {}
        _validate_message(payload, 1, errors)
        assert errors == {}, errors
        url = embed.to_dict().get("url")
        assert url is None or render.safe_url(url) == url
    text = render.plain_song_text(row, "<@3>, your song is ready.")
    assert len(text) <= render.MESSAGE_CONTENT


@FUZZ_RENDER
@given(
    title=long_text,
    error=long_text,
    state=st.sampled_from(["queued", "reserved", "pending", "received", "delivered", "failed"]),
)
def test_status_lines_fit_a_message(title: str, error: str, state: str) -> None:
    task = Task(
        id=1,
        api_task_id="t" * 36,
        guild_id=1,
        channel_id=2,
        requester_id=3,
        status_message_id=4,
        action="generate",
        request={"title": title, "prompt": error},
        parent_song_id=None,
        state=state,
        quota_day="2026-01-01",
        cost=1,
        refunded=False,
        result=None,
        error=error[:300],
        created_at=0.0,
        submitted_at=None,
        finished_at=None,
        deadline_at=0.0,
    )
    assert len(render.status_text(task, jump_url="https://discord.com/channels/1/2/3")) <= render.MESSAGE_CONTENT
    songs = [song_row(id=title[:100] or "x")]
    assert len(render.status_delivered_elsewhere(task, songs, dm_url=None)) <= render.MESSAGE_CONTENT


# -- finding unconfirmed submissions -----------------------------------------------------------


@FUZZ
@given(json_values)
def test_secret_hash_of_never_raises(value: Any) -> None:
    digest = secret_hash_of(value)
    assert digest is None or len(digest) == 64


@FUZZ
@given(
    secrets=st.lists(
        st.text(alphabet=string.ascii_letters + "-_", min_size=20, max_size=43), min_size=1, max_size=6, unique=True
    ),
    bodies=st.lists(
        st.dictionaries(st.sampled_from(["prompt", "model", "title"]), st.text(max_size=5), max_size=3),
        min_size=1,
        max_size=6,
    ),
    decoys=st.integers(0, 5),
    taken=st.sets(st.integers(0, 11), max_size=4),
)
def test_match_records_pairs_each_record_with_at_most_one_task(
    secrets: list[str], bodies: list[dict[str, str]], decoys: int, taken: set[int]
) -> None:
    """Secret matches are exact; body matches never reuse a record; taken records are never matched."""
    wanted = [
        Unconfirmed(
            index,
            {"action": "generate", **bodies[index % len(bodies)]},
            hashlib.sha256(secret.encode()).hexdigest(),
            100.0,
        )
        for index, secret in enumerate(secrets)
    ]
    records = [
        TaskRecord(
            task_id=f"api-{index}",
            request={
                "action": "generate",
                "callback_url": f"https://bot.example/callbacks/{secret}",
                **bodies[index % len(bodies)],
            },
            created_at=200.0,
        )
        for index, secret in enumerate(secrets)
    ]
    records += [
        TaskRecord(
            task_id=f"decoy-{n}",
            request={"action": "generate", "callback_url": f"https://bot.example/callbacks/x{n}"},
            created_at=200.0,
        )
        for n in range(decoys)
    ]
    taken_ids = {f"api-{n}" for n in taken}
    found = match_records(wanted, records, taken_ids)
    assert len({record.task_id for record in found.values()}) == len(found)
    for task_id, record in found.items():
        assert record.task_id == f"api-{task_id}" and record.task_id not in taken_ids
    assert set(found) == {index for index in range(len(secrets)) if f"api-{index}" not in taken_ids}


def test_match_records_by_body_pairs_identical_requests_oldest_first() -> None:
    body = {"action": "generate", "prompt": "same"}
    wanted = [
        Unconfirmed(1, body, None, 100.0),
        Unconfirmed(2, body, None, 105.0),
        Unconfirmed(3, {"prompt": "other"}, None, 100.0),
    ]
    records = [
        TaskRecord("late", request={**body, "async": True}, created_at=110.0),
        TaskRecord("early", request={**body, "async": True}, created_at=101.0),
        TaskRecord("ancient", request={**body, "async": True}, created_at=100.0 - 10_000),
    ]
    found = match_records(wanted, records, set())
    assert {key: record.task_id for key, record in found.items()} == {1: "early", 2: "late"}
