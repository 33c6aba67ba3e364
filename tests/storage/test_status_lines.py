"""Status-line claims and progress in the database (both backends): what a cluster's processes
read to leave a line to the process holding its interaction token, and what that process applies."""

from __future__ import annotations

from bot.songs.requests import new_secret
from bot.storage.repository import Repository
from tests.storage.test_repository import enqueue, limits, new_task


async def test_claim_renew_and_release_of_status_lines(repo: Repository) -> None:
    """The holder and its expiry ride with the task; renewing touches only the holder's own lines;
    a holder stopping gives its lines back."""
    first = await enqueue(repo, new_task(1), limits())
    second = await enqueue(repo, new_task(2), limits())
    await repo.claim_status_line(first.id, 555, "process-a", 100.0)
    await repo.claim_status_line(second.id, 556, "process-b", 100.0)

    await repo.renew_status_lines("process-a", [first.id, second.id], 200.0)
    a, b = await repo.task(first.id), await repo.task(second.id)
    assert a is not None and b is not None
    assert (a.status_message_id, a.status_holder, a.status_until) == (555, "process-a", 200.0)
    assert (b.status_holder, b.status_until) == ("process-b", 100.0)

    assert await repo.release_status_lines("process-a") == 1
    a = await repo.task(first.id)
    assert a is not None and (a.status_holder, a.status_until, a.status_message_id) == (None, None, 555)


async def test_progress_is_kept_for_generating_tasks_and_marks_show_place_in_line(repo: Repository) -> None:
    """Progress is stored only for a pending task; marks give each task's state, progress and
    place in its guild's line, in one read."""
    running = await enqueue(repo, new_task(1), limits(running=1))
    waiting = [await enqueue(repo, new_task(n), limits(running=1)) for n in (2, 3)]
    ((promoted, _),) = await repo.promote_queued(1, limits(running=1), new_secret, 1000.0)
    assert promoted.id == running.id
    await repo.mark_submitted(running.id, "api-1", 1001.0)

    await repo.record_progress([(running.id, 45, 1010.0), (waiting[0].id, 10, 1010.0)])
    marks = await repo.status_marks([running.id, *(task.id for task in waiting)])
    assert (marks[running.id].state, marks[running.id].progress, marks[running.id].position) == ("pending", 45, None)
    assert marks[running.id].submitted_at == 1001.0
    assert [(marks[t.id].state, marks[t.id].progress, marks[t.id].position) for t in waiting] == [
        ("queued", None, 1),
        ("queued", None, 2),
    ]
    assert await repo.status_marks([]) == {}


async def test_claims_that_ran_out_are_taken_over_once_and_finished_ones_released(repo: Repository) -> None:
    """A holder that stopped renewing (it died) leaves claims that run out: one taker clears each
    and rewrites the line; a holder gives up the claims of lines that show their end."""
    tasks = [await enqueue(repo, new_task(n), limits()) for n in (1, 2, 3)]
    await repo.claim_status_line(tasks[0].id, 501, "dead", 100.0)
    await repo.claim_status_line(tasks[1].id, 502, "alive", 300.0)
    await repo.claim_status_line(tasks[2].id, 503, "alive", 300.0)

    assert await repo.take_over_status_lines(200.0) == [tasks[0].id]
    assert await repo.take_over_status_lines(200.0) == []  # cleared: nobody takes it twice
    assert await repo.release_status_lines("alive", [tasks[1].id]) == 1
    assert await repo.release_status_lines("alive", []) == 0
    holders = [(await repo.task(task.id)).status_holder for task in tasks]  # type: ignore[union-attr]
    assert holders == [None, None, "alive"]
