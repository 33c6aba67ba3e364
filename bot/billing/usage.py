"""What a server spent: `/usage` (one server, by day, action and member) and
`python -m bot usage` (every server per month, for the bot's owner).

Songs are counted from their tasks (a refunded one counts nothing), lyrics from their charges
(`Repository.usage_rows`); the month totals and the own-key share come from the month counters
the charges move (`Repository.months_usage`), so the numbers are the ones budgets are checked with.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from bot.core.settings import Settings
from bot.i18n import Locale, t
from bot.storage.billing import MonthUsage, UsageRow
from bot.storage.models import StorageError
from bot.storage.repository import Repository, open_repository

PERIODS = ("7d", "30d", "month")
TOP_MEMBERS = 5


def month_reset(month: str) -> int:
    """Unix time of the first of the month after `YYYY-MM` (UTC)."""
    year, number = (int(part) for part in month.split("-"))
    first = dt.date(year + number // 12, number % 12 + 1, 1)
    return int(dt.datetime.combine(first, dt.time(), tzinfo=dt.UTC).timestamp())


def period_days(period: str, now: float) -> list[str]:
    """The UTC days of a period, oldest first: the last 7 or 30 days, or this month so far."""
    today = dt.datetime.fromtimestamp(now, tz=dt.UTC).date()
    back = today.day - 1 if period == "month" else int(period.removesuffix("d")) - 1
    first = today - dt.timedelta(days=back)
    return [(first + dt.timedelta(days=n)).isoformat() for n in range((today - first).days + 1)]


@dataclass(frozen=True, slots=True)
class UsageReport:
    """A server's credits over a period: per day and action, per member, and in all."""

    guild_id: int
    period: str
    days: list[str]
    by_day: dict[str, dict[str, int]]
    """Day → action → credits."""
    by_member: list[tuple[int, int]]
    """(member, credits), most first."""
    total: int
    month: str
    month_used: int
    budget: int | None
    member_id: int | None = None
    actions: list[str] = field(default_factory=list)


async def build_report(
    repo: Repository, guild_id: int, period: str, now: float, *, member_id: int | None = None
) -> UsageReport:
    days = period_days(period, now)
    rows: list[UsageRow] = await repo.usage_rows(guild_id, days[0], days[-1], user_id=member_id)
    by_day: dict[str, dict[str, int]] = {day: {} for day in days}
    members: dict[int, int] = defaultdict(int)
    for row in rows:
        by_day[row.day][row.action] = by_day[row.day].get(row.action, 0) + row.credits
        members[row.user_id] += row.credits
    month = days[-1][:7]
    usage = await repo.month_usage(guild_id, month)
    billing = await repo.guild_billing(guild_id)
    return UsageReport(
        guild_id=guild_id,
        period=period,
        days=days,
        by_day=by_day,
        by_member=sorted(members.items(), key=lambda item: (-item[1], item[0])),
        total=sum(row.credits for row in rows),
        month=month,
        month_used=usage.used,
        budget=billing.monthly_budget or None,
        member_id=member_id,
        actions=sorted({row.action for row in rows}),
    )


def summary_text(report: UsageReport, locale: Locale = None) -> str:
    """The totals in words (in the member's language), for screen readers (the picture shows the same numbers)."""
    days = {"first": report.days[0], "last": report.days[-1], "total": report.total}
    member = f"<@{report.member_id}>"
    if report.period == "month":
        if report.member_id is not None:
            first = t(
                locale, "{member} spent {total} credits this month ({first} to {last}, UTC).", member=member, **days
            )
        else:
            first = t(locale, "This server spent {total} credits this month ({first} to {last}, UTC).", **days)
    else:
        span = report.period.removesuffix("d")
        if report.member_id is not None:
            first = t(
                locale,
                "{member} spent {total} credits in the last {days} days ({first} to {last}, UTC).",
                member=member,
                days=span,
                **days,
            )
        else:
            first = t(
                locale,
                "This server spent {total} credits in the last {days} days ({first} to {last}, UTC).",
                days=span,
                **days,
            )
    lines = [first]
    per_action = {action: sum(day.get(action, 0) for day in report.by_day.values()) for action in report.actions}
    if per_action:
        actions = ", ".join(f"{action} {credits}" for action, credits in per_action.items())
        lines.append(t(locale, "By action: {actions}.", actions=actions))
    if report.member_id is None and report.by_member:
        top = ", ".join(f"<@{user}> {credits}" for user, credits in report.by_member[:TOP_MEMBERS])
        lines.append(t(locale, "Top members: {members}.", members=top))
    month = {"month": report.month, "used": report.month_used}
    if report.budget:
        lines.append(
            t(
                locale,
                "This month ({month}) the server has spent {used} credits of a budget of {budget}.",
                budget=report.budget,
                **month,
            )
        )
    else:
        lines.append(
            t(locale, "This month ({month}) the server has spent {used} credits (no monthly budget).", **month)
        )
    return "\n".join(lines)


# -- the owner's report -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServerMonth:
    guild_id: int
    month: str
    credits: int
    own_key_credits: int
    has_key_now: bool

    @property
    def payer(self) -> str:
        """Who paid: `server` (own key), `bot` (the owner's) or `both` within the month."""
        if self.own_key_credits >= self.credits and self.credits:
            return "server"
        return "both" if self.own_key_credits else "bot"


async def owner_report(repo: Repository, month: str | None) -> list[ServerMonth]:
    keyed = {billing.guild_id for billing in await repo.guilds_with_keys()}
    months: list[MonthUsage] = await repo.months_usage(month)
    return [
        ServerMonth(row.guild_id, row.month, row.used, row.own_key_used, row.guild_id in keyed)
        for row in months
        if row.used or row.own_key_used
    ]


def owner_table(rows: list[ServerMonth]) -> str:
    if not rows:
        return "No credits spent in that period."
    lines = [f"{'month':<8}  {'server':>20}  {'credits':>8}  {'own key':>8}  paid by"]
    for row in rows:
        lines.append(
            f"{row.month:<8}  {row.guild_id:>20}  {row.credits:>8}  {row.own_key_credits:>8}  "
            f"{row.payer}{' (has own key now)' if row.has_key_now and row.payer == 'bot' else ''}"
        )
    bot_paid = sum(row.credits - row.own_key_credits for row in rows)
    lines.append(
        f"Credits on the bot's own key: {bot_paid}; on servers' own keys: {sum(r.own_key_credits for r in rows)}"
    )
    return "\n".join(lines)


def write_csv(rows: list[ServerMonth], path: Path) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["month", "guild_id", "credits", "own_key_credits", "paid_by", "has_own_key_now"])
    for row in rows:
        writer.writerow([row.month, row.guild_id, row.credits, row.own_key_credits, row.payer, row.has_key_now])
    path.write_text(buffer.getvalue(), encoding="utf-8")


MONTH_SHAPE = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


async def run_usage_report(settings: Settings, month: str | None, csv_path: str | None) -> int:
    """`python -m bot usage [--month YYYY-MM] [--csv PATH]`: 0 when printed (and written), 1 on a
    database problem, 2 for a malformed month. Reads only; safe while the bot runs."""
    if month is not None and not MONTH_SHAPE.fullmatch(month):
        print(f"--month must look like 2026-12, got {month!r}", file=sys.stderr)
        return 2
    try:
        repo = await open_repository(settings)
    except StorageError as exc:
        print(f"Cannot open the database: {exc}", file=sys.stderr)
        return 1
    try:
        rows = await owner_report(repo, month)
    finally:
        await repo.close()
    print(owner_table(rows))
    if csv_path:
        write_csv(rows, Path(csv_path))
        print(f"Wrote {len(rows)} rows to {csv_path}")
    return 0
