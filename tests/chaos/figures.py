"""What each chaos scenario reports, and the checks its tests make.

Every request a test made is classified from what a member would see (`classify`): its song
message in the channel once, more than once, not at all (refunded with a failure notice, or lost);
whether a refund went to a song that was sent to the API or delivered anyway; whether the status
line tells the truth at the end. The time to recover runs from the end of the fault until the last
song was posted and its status line said so. `table` lays the figures out for the end of the run.

Two kinds of check: `assert …` for the targets a scenario exists to test (a failure there is the
finding, and what a strict xfail naming a defect expects), and `require(…)` for what holds whatever
the defect (the setup reached the state it needs, the process did not die). `require` raises
`Broken`, not an AssertionError, so an xfail for one defect never swallows something else going
wrong.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from tests.fakes.fake_discord import FakeMessage


@dataclass
class Figures:
    scenario: str
    requested: int = 0
    once: int = 0
    lost: int = 0
    doubled: int = 0
    refunded: int = 0
    """Not delivered, failed with a refund and a notice: an honest outcome, not a loss."""
    wrong_refunds: int = 0
    """Refunded, yet sent to the API (billed) or delivered anyway."""
    bad_status: int = 0
    """Status lines that do not tell the truth at the end (still "Generating…", no link to the song)."""
    recover_s: float | None = None
    """From the end of the fault until the last song was posted and its status line said so; None
    when some request never got there."""
    notes: str = ""
    nodeid: str = ""


USER_PROPERTY = "chaos_figures"
"""Each scenario's figures ride on its test report under this name (tests/chaos/conftest.py), so
the summary finds them whether the tests ran in this process or in pytest-xdist workers."""


def from_reports(reports: Sequence[object]) -> list[Figures]:
    """The figures attached to `reports` (any pytest reports), in the order they arrived."""
    found = []
    for report in reports:
        for name, value in getattr(report, "user_properties", ()):
            if name == USER_PROPERTY:
                found.append(Figures(**value))
    return found


@dataclass
class Outcome:
    """What became of one request."""

    posted: list[FakeMessage]
    """Messages showing its song in its channel."""
    state: str
    refunded: bool
    sent: bool
    """Whether the API received it."""
    status_line: FakeMessage | None


def classify(
    scenario: str, outcomes: Sequence[Outcome], fault_over_at: float | None, notes: dict[str, object]
) -> Figures:
    figures = Figures(scenario=scenario)
    finished = 0.0
    settled = True
    for outcome in outcomes:
        figures.requested += 1
        posted, line = outcome.posted, outcome.status_line
        status = line.content if line is not None else ""
        if len(posted) == 1:
            figures.once += 1
        elif len(posted) > 1:
            figures.doubled += 1
        elif outcome.refunded and outcome.state in {"failed", "cancelled"}:
            figures.refunded += 1
        else:
            figures.lost += 1
        if outcome.refunded and (posted or outcome.sent):
            figures.wrong_refunds += 1
        if posted:
            true = status.startswith("✅") and posted[0].jump_url in status
        else:
            true = outcome.refunded and status.startswith("❌")
        figures.bad_status += not true
        if not true or line is None:
            settled = False  # not finished as far as the member can tell
            continue
        moments = [message.created_at for message in posted[:1]] + [line.edited_at or line.created_at]
        finished = max(finished, *(moment.timestamp() for moment in moments))
    if settled and fault_over_at is not None:
        figures.recover_s = round(max(0.0, finished - fault_over_at), 1)
    figures.notes = ", ".join(f"{key}={value}" for key, value in notes.items())
    return figures


COLUMNS = ("scenario", "outcome", "req", "once", "lost", "doubled", "refunded", "bad refund", "bad status", "recover s")


def table(figures: Sequence[Figures], outcomes: dict[str, str]) -> list[str]:
    """The figures as aligned text lines, a header first; `outcomes` maps node ids to pytest's verdict."""
    rows = [
        (
            item.scenario,
            outcomes.get(item.nodeid, "?"),
            item.requested,
            item.once,
            item.lost,
            item.doubled,
            item.refunded,
            item.wrong_refunds,
            item.bad_status,
            "-" if item.recover_s is None else f"{item.recover_s:.1f}",
        )
        for item in figures
    ]
    widths = [max(len(str(value)) for value in column) for column in zip(COLUMNS, *rows, strict=True)]
    lines = ["  ".join(str(name).ljust(width) for name, width in zip(COLUMNS, widths, strict=True))]
    for row, item in zip(rows, figures, strict=True):
        line = "  ".join(str(value).ljust(width) for value, width in zip(row, widths, strict=True))
        lines.append(line + (f"  ({item.notes})" if item.notes else ""))
    return lines


def write_report(path: str, figures: Sequence[Figures], outcomes: dict[str, str]) -> None:
    """Append the figures to `path` as JSON lines (one per scenario, with pytest's verdict)."""
    with Path(path).open("a", encoding="utf-8") as out:
        for item in figures:
            out.write(json.dumps({**asdict(item), "outcome": outcomes.get(item.nodeid, "?")}) + "\n")


class Broken(Exception):
    """A check that holds whatever the defect under test failed: a regression, or a mistake in the
    test. Deliberately not an AssertionError (see the module docstring)."""


def require(condition: object, message: str) -> None:
    if not condition:
        raise Broken(message)


def require_exactly_once(figures: Figures) -> None:
    """Every song posted once or refunded honestly, none lost, none doubled, no refund for a song
    that was sent; as `require`."""
    require(figures.doubled == 0, f"songs posted more than once: {figures}")
    require(figures.lost == 0, f"songs lost: {figures}")
    require(figures.wrong_refunds == 0, f"refunded songs that were sent or delivered anyway: {figures}")
    require(figures.once + figures.refunded == figures.requested, figures)


def assert_exactly_once(figures: Figures) -> None:
    """The same targets as plain assertions (a failure here is the finding)."""
    assert figures.doubled == 0, f"songs posted more than once: {figures}"
    assert figures.lost == 0, f"songs lost: {figures}"
    assert figures.wrong_refunds == 0, f"refunded songs that were sent or delivered anyway: {figures}"
    assert figures.once + figures.refunded == figures.requested, figures
