"""Pure helpers behind /prefer and /jam suggest: the suffix joiner, the jam prompt, the next lines."""

from __future__ import annotations

import pytest

from bot.core.errors import InvalidInput
from bot.songs.lyrics import LYRICS_PROMPT_MAX, jam_prompt, next_lines
from bot.songs.preferences import add_suffix
from bot.storage import JamLine


def lines(*texts: str) -> list[JamLine]:
    return [JamLine(id=n, author_id=1, line=text) for n, text in enumerate(texts, 1)]


@pytest.mark.parametrize(
    ("text", "suffix", "expected"),
    [
        ("rainy day", "lo-fi", "rainy day lo-fi"),
        ("rainy day", ", lo-fi", "rainy day, lo-fi"),
        ("", ", lo-fi", "lo-fi"),
        ("rainy day, lo-fi", ", lo-fi", "rainy day, lo-fi"),
        ("rainy day", "", "rainy day"),
    ],
)
def test_add_suffix(text: str, suffix: str, expected: str) -> None:
    assert add_suffix("prompt", text, suffix, limit=200) == expected


def test_add_suffix_over_the_limit_names_the_suffix() -> None:
    with pytest.raises(InvalidInput, match="style_suffix"):
        add_suffix("prompt", "x" * 150, "y" * 60, limit=200)


def test_jam_prompt_keeps_the_newest_lines_within_the_limit() -> None:
    assert jam_prompt("Summer", []) == "Next lines for a song about Summer"
    prompt = jam_prompt("Summer", lines(*(f"line number {n} of the jam" for n in range(30))))
    assert len(prompt) <= LYRICS_PROMPT_MAX
    assert prompt.endswith("line number 29 of the jam") and "line number 0 " not in prompt
    long = jam_prompt("T" * 100, lines("w" * 300))
    assert len(long) <= LYRICS_PROMPT_MAX and long.endswith("…")


def test_next_lines_skip_tags_blanks_and_lines_the_jam_has() -> None:
    lyrics = "[Verse 1]\nWarm wind on the porch\n\nFireflies at dusk\n(Chorus)\nfireflies at dusk\nStars\nMoon\nSun\n"
    assert next_lines(lyrics, lines("Warm wind on the porch")) == ["Fireflies at dusk", "Stars", "Moon", "Sun"]
    assert next_lines("[Intro]\n\n", []) == []
    assert next_lines("a" * 300, []) == ["a" * 199 + "…"]
