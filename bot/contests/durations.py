"""Contest durations as members type them: `2d`, `12h`, `90m`, or combined (`1d12h`)."""

from __future__ import annotations

import re

from bot.core.errors import InvalidInput

UNITS = {"d": 86400, "h": 3600, "m": 60}
MIN_SECONDS = 60
MAX_SECONDS = 30 * 86400
_WHOLE = re.compile(r"(?:\d{1,6}[dhm])+")
_PART = re.compile(r"(\d{1,6})([dhm])")


def parse_duration(option: str, text: str) -> float:
    """Seconds in `text`; a clear `InvalidInput` naming `option` when it is not a duration from 1m to 30d."""
    cleaned = text.strip().lower().replace(" ", "")
    if not _WHOLE.fullmatch(cleaned):
        raise InvalidInput(
            "`{option}` must be a duration like `2d`, `12h` or `90m` (days, hours, minutes), from `1m` to `30d`.",
            option=option,
        )
    seconds = sum(int(amount) * UNITS[unit] for amount, unit in _PART.findall(cleaned))
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise InvalidInput("`{option}` must be between `1m` and `30d`; `{text}` is not.", option=option, text=cleaned)
    return float(seconds)


def describe(seconds: float) -> str:
    """`2d 3h`, `90m` → `1h 30m`: a duration the way the contest message shows it."""
    left = int(seconds)
    parts = []
    for unit, size in UNITS.items():
        if left >= size:
            parts.append(f"{left // size}{unit}")
            left %= size
    return " ".join(parts) or "0m"
