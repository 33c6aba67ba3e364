"""The REST budget of a cluster: status lines are edited through the interaction token, whichever
process learns what changed.

Two real `python -m bot` processes on one PostgreSQL behind the round-robin proxy (the set-up of
`test_cluster`). Each guild's command reaches the process running its shard, which holds the
command's interaction token; the poller (either process) reads the songs' progress and the proxy
sends each callback to the *other* process. Every status edit must still go through the
interaction endpoint (exempt from Discord's global limit of 50 requests a second per bot token),
so the only global-limit requests a song costs are its own post.
"""

from __future__ import annotations

import re

from tests.cluster.test_cluster import Setup, running, setup  # noqa: F401 - the fixtures
from tests.fakes.fake_discord import FakeInteraction

EXEMPT = re.compile(r"^/(interactions|webhooks)/")
SONG_POST = re.compile(r"^/channels/\d+/messages$")


def _status(interaction: FakeInteraction) -> str:
    return interaction.original.content if interaction.original is not None else ""


async def test_progress_and_delivery_edits_made_elsewhere_use_the_interaction_token(
    setup: Setup,  # noqa: F811 - the fixture
    running: list,  # noqa: F811 - the fixture
) -> None:
    """Progress read by the poller and the delivery made by the process that got the callback
    both reach the status line through the token holder: the global-limit requests in the whole
    exchange are exactly one post per song."""
    setup.producer.progress_timeline = ((0.0, "30%"),)
    cluster = setup.cluster(CALLBACK_GRACE="600")
    running.append(cluster)
    await cluster.start()
    start = len(setup.discord.requests)

    setup.producer.script(outcome="never")
    setup.producer.script(outcome="never")
    asked = [await setup.generate(guild, f"budget song {n}") for n, guild in enumerate(setup.guilds)]
    tasks = await setup.producer.wait_for_task_count(2)
    for interaction in asked:
        await setup.discord.wait_for(lambda i=interaction: "30%" in _status(i), timeout=30)

    # The proxy alternates: the first callback goes to process 0, the second to process 1, so
    # guild 1's song (its token in process 1) and guild 0's (process 0) are each delivered elsewhere.
    for task in reversed(tasks):
        await setup.producer.complete(task.task_id)
    for guild, interaction in zip(setup.guilds, asked, strict=True):
        await setup.discord.wait_for(lambda g=guild: setup.songs(g), timeout=30)
        await setup.discord.wait_for(lambda i=interaction: "✅" in _status(i), timeout=30)
        assert setup.songs(guild)[0].jump_url in _status(interaction)

    callbacks = [index for index, path in cluster.proxy.taken if path.startswith("/callbacks/")]
    assert callbacks == [0, 1]
    spent = [(method, path) for method, path in setup.discord.requests[start:] if not EXEMPT.match(path)]
    posts = [path for method, path in spent if method == "POST" and SONG_POST.match(path)]
    songs = sum(len(setup.songs(guild)) for guild in setup.guilds)
    assert spent == [("POST", path) for path in posts], f"global-limit requests besides song posts: {spent}"
    assert len(posts) == songs


async def test_a_status_line_whose_holder_died_is_brought_up_to_date_by_the_others(
    setup: Setup,  # noqa: F811 - the fixture
    running: list,  # noqa: F811 - the fixture
) -> None:
    """The process holding the command's token is killed while its song is generating; the song's
    callback reaches the survivor, which posts it and, once the dead holder's claim runs out
    (LEASE_SECONDS), rewrites the status line itself with the bot token: never left stale."""
    cluster = setup.cluster(CALLBACK_GRACE="600")
    running.append(cluster)
    await cluster.start()
    guild = setup.guilds[0]  # shard 0: process 0 takes the command and holds its token
    setup.producer.script(outcome="never")
    asked = await setup.generate(guild, "holder dies")
    (task,) = await setup.producer.wait_for_task_count(1)
    await setup.discord.wait_for(lambda: task.task_id in _status(asked), timeout=30)

    await cluster.processes[0].kill()
    await setup.producer.complete(task.task_id)  # the proxy skips the dead process
    await setup.discord.wait_for(lambda: setup.songs(guild), timeout=30)
    await setup.discord.wait_for(lambda: "✅" in _status(asked), timeout=30)
    assert setup.songs(guild)[0].jump_url in _status(asked)
