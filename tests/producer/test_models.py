"""Parsing the API's results: the guide's own examples, its loose types, and arbitrary JSON."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.producer.models import MalformedResult, parse_result, parse_task_record

GUIDE_SONG = {
    "id": "6c947f13-a3c5-4b9c-8609-5639c37cdc2d",
    "title": "Untitled",
    "image_url": "https://cdn.example/image/6c947f13.jpg",
    "lyric": "[Instrumental]",
    "audio_url": "https://cdn.example/audio/6c947f13.m4a?sig=1",
    "video_url": None,
    "image_id": "6c947f13-a3c5-4b9c-8609-5639c37cdc2d",
    "topic": None,
    "seed": "2450882164",
    "sound": "A song for Christmas",
    "created_at": "2025-12-30T17:18:23.232911Z",
    "model": "FUZZ-2.0 Pro",
    "progress": "100%",
    "state": "succeeded",
    "duration": "181.3014058956916",
}


def test_guide_callback_body() -> None:
    """The guide's callback: one song, duration and seed as strings."""
    result = parse_result({"success": True, "task_id": "t1", "trace_id": "tr", "data": [GUIDE_SONG]})
    assert result.success and result.task_id == "t1"
    (song,) = result.deliverable
    assert song.id == GUIDE_SONG["id"]
    assert song.duration == pytest.approx(181.3014058956916)
    assert song.seed == "2450882164"
    assert song.prompt == "A song for Christmas"


def test_stems_item_has_no_id() -> None:
    stems = {"title": "T", "lyric": "", "stems_url": "https://cdn.example/t.zip", "model": "", "state": "succeeded"}
    (song,) = parse_result({"success": True, "task_id": "t", "data": [stems]}).deliverable
    assert song.id is None and song.stems_url == "https://cdn.example/t.zip"


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        (
            {"success": False, "task_id": "t", "error": {"code": "api_error", "message": "boom"}, "data": []},
            "api_error",
            "boom",
        ),
        ({"success": False, "error": "provider timeout"}, None, "provider timeout"),
        ({"success": False, "task_id": "t", "data": []}, None, None),
    ],
)
def test_failures(body: dict[str, Any], code: str | None, message: str | None) -> None:
    """Failures in every documented shape: error object, bare string, nothing at all."""
    result = parse_result(body)
    assert not result.success and not result.deliverable
    assert (result.error_code, result.error_message) == (code, message)


def test_partial_failure_keeps_playable_songs() -> None:
    """`success: false` with playable data still yields the song (as the vendor's web app shows it)."""
    result = parse_result({"success": False, "error": {"message": "one failed"}, "data": [GUIDE_SONG, {"id": "x"}]})
    assert not result.success
    assert [song.id for song in result.deliverable] == [GUIDE_SONG["id"]]


@pytest.mark.parametrize("duration", ["abc", None, "-3", "nan", "inf", [], {}])
def test_odd_durations_become_unknown(duration: Any) -> None:
    (song,) = parse_result({"success": True, "data": [{**GUIDE_SONG, "duration": duration}]}).songs
    assert song.duration is None


def test_data_as_object_is_accepted() -> None:
    assert parse_result({"success": True, "data": GUIDE_SONG}).deliverable


def test_not_an_object_is_malformed() -> None:
    with pytest.raises(MalformedResult):
        parse_result(["not", "an", "object"])


def test_pending_record_with_preview_is_not_finished() -> None:
    """A pending record may show a preview audio_url; only `response` means finished."""
    record = parse_task_record(
        {"id": "t1", "type": "audios", "created_at": 1.0, "request": {}, "data": [{"audio_url": "https://p/x.mp3"}]}
    )
    assert record is not None and not record.finished


def test_finished_record_and_unknown_task() -> None:
    record = parse_task_record({"id": "t1", "response": {"success": True, "data": [GUIDE_SONG]}, "finished_at": 2.0})
    assert record is not None and record.finished
    assert parse_task_record({}) is None


@pytest.mark.parametrize(
    ("record", "progress"),
    [
        ({"id": "t1", "progress": "45%"}, 45),
        ({"id": "t1", "data": [{"audio_url": "https://p/x.mp3", "progress": "45%"}]}, 45),
        ({"id": "t1", "response": {"task_id": "t1", "data": [{"progress": "45%", "state": "running"}]}}, 45),
        ({"id": "t1", "progress": " 7.5 % "}, 7),
        ({"id": "t1", "progress": 60}, 60),
        ({"id": "t1", "progress": "250%"}, 100),
        ({"id": "t1", "progress": "soon"}, None),
        ({"id": "t1", "progress": True}, None),
        ({"id": "t1", "data": "45%"}, None),
    ],
)
def test_progress_is_read_wherever_a_pending_record_carries_it(record: dict[str, Any], progress: int | None) -> None:
    """Top level, `data[]` items, or `response.data[]` of a response without `success`."""
    parsed = parse_task_record(record)
    assert parsed is not None and not parsed.finished
    assert parsed.progress == progress


def test_response_without_success_is_pending_even_at_100_percent() -> None:
    """A progress report in `response` (no `success`, no error, no `finished_at`) is not the result."""
    report = {"task_id": "t1", "data": [{**GUIDE_SONG, "progress": "100%"}]}
    parsed = parse_task_record({"id": "t1", "response": report})
    assert parsed is not None and not parsed.finished and parsed.progress == 100
    finished = parse_task_record({"id": "t1", "response": report, "finished_at": 2.0})
    assert finished is not None and finished.finished
    failed = parse_task_record({"id": "t1", "response": {"error": "provider timeout"}})
    assert failed is not None and failed.finished


def test_string_response_is_a_failure() -> None:
    record = parse_task_record({"id": "t1", "response": "provider timeout"})
    assert record is not None and record.response is not None
    assert parse_result(record.response).error_message == "provider timeout"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30,
)
result_like = st.fixed_dictionaries(
    {},
    optional={
        "success": json_values,
        "task_id": json_values,
        "trace_id": json_values,
        "error": json_values,
        "data": st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    key: json_values for key in ("id", "title", "audio_url", "duration", "seed", "lyric", "sound")
                },
            )
            | json_values,
            max_size=3,
        )
        | json_values,
    },
)


@settings(max_examples=300, deadline=None)
@given(result_like)
def test_parse_result_never_raises_on_objects(body: dict[str, Any]) -> None:
    """Whatever an object holds, parsing yields a result; deliverable songs always have a URL."""
    result = parse_result(body)
    assert all(song.audio_url or song.stems_url for song in result.deliverable)
    assert result.success in (True, False)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["id", "response", "data", "finished_at"]), json_values))
def test_parse_task_record_never_raises(record: dict[str, Any]) -> None:
    parsed = parse_task_record(record)
    if parsed is not None and parsed.finished:
        assert isinstance(parsed.response, dict)
