"""One song's unexpected failure while it is sent does not abandon the rest of its batch (issue 18,
defect 1): the others are sent at once instead of waiting, unsent, until their deadline."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.producer.client import ProducerClient
from tests.harness import World, generate


async def test_a_bug_sending_one_song_does_not_strand_the_rest_of_its_batch(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Three songs wait in line behind a first one that never finishes (one slot per member).
    await world.start_bot(callbacks=True, MAX_RUNNING_PER_GUILD="1", MAX_RUNNING_PER_MEMBER="4")
    world.producer.script(outcome="never")
    await generate(world, "first, holding the slot")
    await world.producer.wait_for_task_count(1)
    members = [world.discord.add_user(name) for name in ("bob", "carol", "dave")]
    for member, prompt in zip(members, ("boom", "second", "third"), strict=True):
        await generate(world, prompt, user_id=member)
    for _ in range(100):
        if len(await world.repo.tasks_in_states("queued")) == 3:
            break
        await asyncio.sleep(0.1)
    assert len(await world.repo.tasks_in_states("queued")) == 3

    # A restart with room for all of them sends the three as one batch; sending "boom" hits a bug.
    real = ProducerClient.submit_audio

    async def buggy(self: ProducerClient, body: dict[str, Any], **routing: Any) -> Any:
        if body.get("prompt") == "boom":
            raise RuntimeError("a bug while sending")
        return await real(self, body, **routing)

    monkeypatch.setattr(ProducerClient, "submit_audio", buggy)
    await world.stop_bot()
    world.producer.script(outcome="success")
    await world.start_bot(callbacks=True, MAX_RUNNING_PER_GUILD="4", MAX_RUNNING_PER_MEMBER="4")
    sent = await world.producer.wait_for_task_count(3)  # the first song, then "second" and "third"
    assert sorted(task.request.get("prompt") for task in sent[1:]) == ["second", "third"]
    await world.discord.wait_for(lambda: len(world.songs_in_channel()) >= 2, timeout=20)
    assert len(world.songs_in_channel()) == 2
