"""Budgets and the month counters are charged with the daily quota, exactly, on both backends."""

from __future__ import annotations

import asyncio

from bot.storage.models import CreditLimits, Limits, Refusal, Task
from bot.storage.repository import Repository
from tests.storage.test_repository import new_task

DAY = "2026-12-06"
MONTH = "2026-12"


def limits(budget: int | None = None, *, own_key: bool = False, cap: int | None = None) -> Limits:
    return Limits(
        daily_allowance=1000,
        member_daily_cap=cap,
        max_running=4,
        max_running_per_member=100,
        max_queued=1000,
        monthly_budget=budget,
        own_key=own_key,
    )


async def outbox_keys(repo: Repository) -> list[str]:
    return sorted(str(row[0]) for row in await repo._fetchall("SELECT key FROM outbox"))


async def test_a_budget_is_charged_with_the_quota_and_refuses_past_it(repo: Repository) -> None:
    """Ten charges at once against a budget of 4: four taken, six refused for the budget."""
    results = await asyncio.gather(*(repo.enqueue_task(new_task(n, day=DAY), limits(4)) for n in range(10)))
    taken = [r for r in results if isinstance(r, Task)]
    assert len(taken) == 4
    assert {r.reason for r in results if isinstance(r, Refusal)} == {"budget"}
    assert (await repo.month_usage(1, MONTH)).used == 4
    assert await repo.quota_used(1, DAY) == 4  # refusals charged nothing


async def test_budget_alerts_are_queued_once_each(repo: Repository) -> None:
    """50, 75, 90 and 100 % each queue one alert step, however the charges fall."""
    await repo.update_billing(1, monthly_budget=10, alerts_channel_id=555)
    for n in range(4):
        await repo.enqueue_task(new_task(n, day=DAY), limits(10))
    assert await outbox_keys(repo) == []
    await repo.enqueue_task(new_task(4, day=DAY), limits(10))
    assert await outbox_keys(repo) == [f"budget:1:{MONTH}:50"]
    await repo.enqueue_task(new_task(5, day=DAY, cost=4), limits(10))  # 5 → 9: 75 and 90 at once
    assert await outbox_keys(repo) == [f"budget:1:{MONTH}:50", f"budget:1:{MONTH}:75", f"budget:1:{MONTH}:90"]
    refused = await repo.enqueue_task(new_task(6, day=DAY, cost=2), limits(10))
    assert isinstance(refused, Refusal) and refused.reason == "budget"
    await repo.enqueue_task(new_task(7, day=DAY), limits(10))
    assert await outbox_keys(repo) == sorted(f"budget:1:{MONTH}:{p}" for p in (50, 75, 90, 100))
    rows = await repo._fetchall("SELECT kind, channel_id FROM outbox")
    assert {(str(kind), int(channel)) for kind, channel in rows} == {("budget_alert", 555)}


async def test_refunds_give_the_month_back_and_the_own_key_share(repo: Repository) -> None:
    owner_paid = await repo.enqueue_task(new_task(1, day=DAY), limits(5))
    own_paid = await repo.enqueue_task(new_task(2, day=DAY, cost=2), limits(5, own_key=True))
    assert isinstance(owner_paid, Task) and isinstance(own_paid, Task)
    usage = await repo.month_usage(1, MONTH)
    assert (usage.used, usage.own_key_used) == (3, 2)
    await repo.fail_task(own_paid.id, "boom", 1.0)
    await repo.fail_task(own_paid.id, "again", 2.0)  # refunded once
    usage = await repo.month_usage(1, MONTH)
    assert (usage.used, usage.own_key_used) == (1, 0)
    await repo.cancel_task(owner_paid.id, 3.0)
    assert (await repo.month_usage(1, MONTH)).used == 0
    assert [row for row in await repo.usage_rows(1, DAY, DAY) if row.credits] == []


async def test_credit_charges_count_against_the_budget_and_usage(repo: Repository) -> None:
    """Lyrics (not songs) are charged in the month too, shown in usage, and given back on refund."""
    credit = CreditLimits(100, None, monthly_budget=3)
    assert await repo.charge_credits(1, 7, DAY, 2, credit, action="lyrics") is None
    assert await repo.charge_credits(1, 7, DAY, 2, credit, action="lyrics") == "budget"
    assert (await repo.month_usage(1, MONTH)).used == 2
    rows = await repo.usage_rows(1, DAY, DAY)
    assert [(r.user_id, r.action, r.credits) for r in rows] == [(7, "lyrics", 2)]
    own = CreditLimits(100, None, monthly_budget=3, own_key=True)
    assert await repo.charge_credits(1, 7, DAY, 1, own, action="lyrics") is None
    assert (await repo.month_usage(1, MONTH)).own_key_used == 1
    await repo.refund_credits(1, 7, DAY, 1, action="lyrics", own_key=True)
    await repo.refund_credits(1, 7, DAY, 2, action="lyrics")
    usage = await repo.month_usage(1, MONTH)
    assert (usage.used, usage.own_key_used) == (0, 0)
    assert sum(r.credits for r in await repo.usage_rows(1, DAY, DAY)) == 0


async def test_usage_rows_by_day_member_and_action(repo: Repository) -> None:
    for n, (user, day) in enumerate([(7, DAY), (7, DAY), (8, DAY), (8, "2026-12-05")]):
        await repo.enqueue_task(new_task(n, user=user, day=day), limits())
    rows = await repo.usage_rows(1, "2026-12-01", DAY)
    assert [(r.day, r.user_id, r.credits) for r in rows] == [("2026-12-05", 8, 1), (DAY, 7, 2), (DAY, 8, 1)]
    assert [r.user_id for r in await repo.usage_rows(1, "2026-12-01", DAY, user_id=8)] == [8, 8]
    assert [(m.guild_id, m.used) for m in await repo.months_usage(MONTH)] == [(1, 4)]


async def test_keys_role_caps_and_a_refusal_episode(repo: Repository) -> None:
    """The key is stored as given (already encrypted); a refusal opens one episode; a new key ends it."""
    await repo.set_api_key(1, "gAAAA-encrypted", "wxyz")
    await repo.set_role_cap(1, 42, 3)
    await repo.set_role_cap(1, 43, 0)
    assert await repo.role_caps(1) == {42: 3, 43: 0}
    await repo.set_role_cap(1, 43, None)
    assert await repo.role_caps(1) == {42: 3}
    assert await repo.key_refused(1, "gAAAA-encrypted", "used_up", 10.0)
    assert not await repo.key_refused(1, "gAAAA-encrypted", "used_up", 11.0)  # once per episode
    assert (await repo.guild_billing(1)).paused
    assert not await repo.key_refused(1, "an-older-key", "invalid_token", 12.0)
    assert await outbox_keys(repo) == ["key-refused:1:10.0"]
    billing = await repo.set_api_key(1, "gAAAA-new", "abcd")
    assert not billing.paused and billing.api_key_hint == "abcd"


async def test_two_processes_charging_one_budget_stay_exact(postgres_url: str) -> None:
    """Two repositories (two processes' pools) on one PostgreSQL: 60 charges, a budget of 25."""
    first, second = await Repository.connect(postgres_url), await Repository.connect(postgres_url)
    try:
        await first.update_billing(1, monthly_budget=25)
        charges = [
            (first if n % 2 else second).enqueue_task(new_task(n, day=DAY), limits(25, own_key=n % 3 == 0))
            for n in range(60)
        ]
        results = await asyncio.gather(*charges)
        assert sum(isinstance(r, Task) for r in results) == 25
        usage = await first.month_usage(1, MONTH)
        assert usage.used == 25 and usage.alerted == 100
        own = sum(1 for n, r in enumerate(results) if isinstance(r, Task) and n % 3 == 0)
        assert usage.own_key_used == own
        assert len([key for key in await outbox_keys(first) if key.startswith("budget:")]) == 4
    finally:
        await first.close()
        await second.close()
