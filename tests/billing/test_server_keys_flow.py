"""A server's own API key, end to end: two servers, one with its own key, one without.

Asserted at the fake API: which token every request carried (submission, poll, look-up, lyrics,
WAV, video, after a restart too); that the key is never in the database file or the logs; that a
refused key pauses only its server and tells its managers once, not the bot's owner.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import pytest

from bot.core.logs import RedactSecrets
from bot.core.secrets import SecretBox, new_key
from bot.core.settings import SettingsError, settings_from_mapping
from tests.fakes.fake_discord import FakeDiscord
from tests.harness import World, db_path, embed_field, generate, private_reply, reply_text, today
from tests.postgres import both_backends

SERVER_KEY = "own-key-of-the-club-7f3a9c2e4b1d"
"""The club's Producer token. It must never appear in a log line, a message or the database."""


@dataclass
class Club:
    """The second server, which pays for its own songs."""

    guild_id: int
    channel_id: int
    alerts_id: int
    member_id: int
    manager_id: int


def add_club(world: World) -> Club:
    guild = world.discord.add_guild("Own Key Club")
    channel = world.discord.add_channel(guild, "studio")
    alerts = world.discord.add_channel(guild, "money")
    member = world.discord.add_user("carol")
    manager = world.discord.add_user("dave")
    world.discord.grant(manager, FakeDiscord.MANAGE_GUILD)
    return Club(guild, channel, alerts, member, manager)


async def save_key(world: World, club: Club, key: str = SERVER_KEY) -> str:
    """A manager runs `/settings api_key:True` and pastes the key into the form."""
    command = await world.discord.invoke_slash(
        "settings", {"api_key": True}, user_id=club.manager_id, channel_id=club.channel_id
    )
    await world.discord.wait_for(lambda: command.modal)
    submitted = await world.discord.submit_modal(command, {"input:secret": key})
    return await private_reply(world, submitted)


async def start(world: World, **env: str) -> Club:
    world.producer.accept_token(SERVER_KEY)
    club = add_club(world)
    await world.start_bot(SECRET_KEY=new_key(), **env)
    return club


def audio_tokens(world: World) -> dict[str, str | None]:
    """Prompt → the token its submission carried."""
    tokens = world.producer.tokens_for("/producer/audios")
    return {body.get("prompt", ""): token for body, token in zip(world.producer.audio_requests, tokens, strict=True)}


def poll_tokens(world: World) -> dict[str, set[str | None]]:
    """API task id → the tokens of the /producer/tasks requests that asked about it by id."""
    asked: dict[str, set[str | None]] = {}
    tokens = world.producer.tokens_for("/producer/tasks")
    for (_, body), token in zip(world.producer.task_requests, tokens, strict=True):
        for task_id in body.get("ids") or [body.get("id")]:
            asked.setdefault(str(task_id), set()).add(token)
    return asked


def task_of(world: World, prompt: str) -> str:
    return next(task_id for task_id, task in world.producer.tasks.items() if task.request.get("prompt") == prompt)


@both_backends
async def test_every_request_for_the_club_carries_its_own_key(world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # discord.py logs every gateway event at DEBUG, the key form's too
    caplog.handler.addFilter(RedactSecrets([]))  # the log handler's filter, as `python -m bot` installs it
    club = await start(world)
    owner = world.producer.token
    assert "…" + SERVER_KEY[-4:] in await save_key(world, club)
    assert world.producer.tokens_for("/producer/tasks")[-1] == SERVER_KEY  # the free check before saving

    await generate(world, "club song", club.member_id, club.channel_id)
    await generate(world, "lovers song")
    song = await world.wait_for_song(club.channel_id)
    await world.wait_for_song()
    assert audio_tokens(world) == {"club song": SERVER_KEY, "lovers song": owner}
    polled = poll_tokens(world)
    assert polled[task_of(world, "club song")] == {SERVER_KEY}
    assert polled[task_of(world, "lovers song")] == {owner}

    lyrics = await world.discord.invoke_slash(
        "lyrics", {"prompt": "a club anthem"}, user_id=club.member_id, channel_id=club.channel_id
    )
    await world.discord.wait_for(lambda: lyrics.followups)
    song_id = embed_field(song, "Song id").strip("`")
    for kind in ("wav", "video"):
        click = await world.discord.click_button(song, f"song:{kind}:{song_id}", user_id=club.member_id)
        await world.discord.wait_for(lambda c=click: c.followups)
    assert world.producer.tokens_for("/producer/lyrics") == [SERVER_KEY]
    assert world.producer.tokens_for("/producer/wav") == [SERVER_KEY]
    assert world.producer.tokens_for("/producer/videos") == [SERVER_KEY]

    # After a restart: a task still generating is polled with the club's key, and a submission
    # whose answer was lost is looked up among the club key's own tasks (the owner's list has it not).
    world.producer.auto_complete = False
    await generate(world, "slow club song", club.member_id, club.channel_id)
    await world.producer.wait_for(
        lambda: any(t.request.get("prompt") == "slow club song" for t in world.producer.tasks.values())
    )
    await world.restart_bot()
    world.producer.auto_complete = True
    await world.producer.complete(task_of(world, "slow club song"))
    await world.discord.wait_for(lambda: len(world.songs_in_channel(club.channel_id)) == 2, timeout=20)
    assert poll_tokens(world)[task_of(world, "slow club song")] == {SERVER_KEY}

    world.producer.accept_then_fail_next(status=502, code="api_error")
    await generate(world, "lost answer", club.member_id, club.channel_id)
    await world.discord.wait_for(lambda: len(world.songs_in_channel(club.channel_id)) == 3, timeout=20)
    listed = [
        token
        for (_, body), token in zip(
            world.producer.task_requests, world.producer.tokens_for("/producer/tasks"), strict=True
        )
        if body.get("action") == "retrieve_batch" and "ids" not in body
    ]
    assert listed and set(listed) == {SERVER_KEY}
    assert audio_tokens(world)["lost answer"] == SERVER_KEY

    await world.settle()
    await world.stop_bot()
    stored = (
        b"".join(path.read_bytes() for path in db_path(world).parent.glob("bot.db*"))
        if world.backend == "sqlite"
        else b""
    )
    assert SERVER_KEY.encode() not in stored
    assert SERVER_KEY not in caplog.text
    assert all(SERVER_KEY not in (m.content or "") for ms in world.discord.messages.values() for m in ms)


async def test_the_key_is_kept_encrypted_and_shown_only_by_its_last_four(world: World) -> None:
    club = await start(world)
    await save_key(world, club)
    billing = await world.repo.guild_billing(club.guild_id)
    assert billing.api_key is not None and SERVER_KEY not in billing.api_key
    assert billing.api_key_hint == SERVER_KEY[-4:]
    shown = await world.discord.invoke_slash("settings", {}, user_id=club.manager_id, channel_id=club.channel_id)
    await world.discord.wait_for(lambda: shown.responses)
    embed = shown.responses[0]["data"]["embeds"][0]
    payer = next(f["value"] for f in embed["fields"] if f["name"] == "Songs paid by")
    assert "…" + SERVER_KEY[-4:] in payer and SERVER_KEY not in str(embed)
    allowance = await world.discord.invoke_slash(
        "allowance", {}, user_id=world.discord.owner_id, channel_id=club.channel_id
    )
    assert "pays for its songs with its own API key" in await private_reply(world, allowance)

    refused = await world.discord.invoke_slash(
        "settings", {"api_key": True}, user_id=club.manager_id, channel_id=club.channel_id
    )
    await world.discord.wait_for(lambda: refused.modal)
    submitted = await world.discord.submit_modal(refused, {"input:secret": "not-a-real-key-123"})
    answer = await private_reply(world, submitted)
    assert "refused that key" in answer and "not-a-real-key-123" not in answer
    assert (await world.repo.guild_billing(club.guild_id)).api_key_hint == SERVER_KEY[-4:]  # the good one stays

    cleared = await world.discord.invoke_slash(
        "settings", {"clear_api_key": True}, user_id=club.manager_id, channel_id=club.channel_id
    )
    assert "Removed this server's own API key" in await reply_text(world, cleared)
    await generate(world, "on the owner again", club.member_id, club.channel_id)
    await world.wait_for_song(club.channel_id)
    assert audio_tokens(world)["on the owner again"] == world.producer.token


async def test_without_secret_key_a_key_cannot_be_added(world: World) -> None:
    club = add_club(world)
    await world.start_bot()
    command = await world.discord.invoke_slash(
        "settings", {"api_key": True}, user_id=club.manager_id, channel_id=club.channel_id
    )
    assert "must set SECRET_KEY" in await private_reply(world, command)
    assert command.modal is None


async def test_a_refused_key_pauses_only_its_server_and_tells_its_managers_once(world: World) -> None:
    club = await start(world)
    await save_key(world, club)
    settings = await world.discord.invoke_slash(
        "settings", {"alerts_channel": club.alerts_id}, user_id=club.manager_id, channel_id=club.channel_id
    )
    await reply_text(world, settings)
    world.producer.refuse_token(SERVER_KEY, status=403, code="used_up")

    first, second = await asyncio.gather(
        generate(world, "first", club.member_id, club.channel_id),
        generate(world, "second", club.member_id, club.channel_id),
    )
    texts = [await reply_text(world, interaction) for interaction in (first, second)]
    assert all("paused" in text for text in texts), texts
    await world.settle()
    alerts = [m for m in world.discord.messages.get(club.alerts_id, [])]
    assert len(alerts) == 1 and "refused this server's own Producer API key" in alerts[0].content
    assert "…" + SERVER_KEY[-4:] in alerts[0].content and SERVER_KEY not in alerts[0].content
    assert await world.repo.quota_used(club.guild_id, today(world)) == 0  # refunded
    assert world.discord.messages.get(world.discord.dm_channel_id(world.discord.owner_id), []) == []

    later = await generate(world, "third", club.member_id, club.channel_id)
    assert "Songs are paused in this server" in await reply_text(world, later)
    assert "third" not in audio_tokens(world)
    await generate(world, "lovers still sing")
    await world.wait_for_song()  # the other server is not paused

    world.producer.accept_token(SERVER_KEY)  # topped up
    await save_key(world, club)
    await generate(world, "back again", club.member_id, club.channel_id)
    await world.wait_for_song(club.channel_id)
    await world.settle()
    assert len(world.discord.messages.get(club.alerts_id, [])) == 1


async def test_public_bot_mode_refuses_servers_without_a_key(world: World) -> None:
    club = await start(world, REQUIRE_SERVER_KEYS="true")
    refused = await generate(world, "no key here")
    text = await reply_text(world, refused)
    assert "ask a server manager" in text and "/settings api_key:True" in text
    assert world.producer.audio_requests == []
    await save_key(world, club)
    await generate(world, "paid by the club", club.member_id, club.channel_id)
    await world.wait_for_song(club.channel_id)
    assert audio_tokens(world) == {"paid by the club": SERVER_KEY}


async def test_rotating_secret_key_keeps_keys_and_a_lost_one_never_falls_back_to_the_owner(world: World) -> None:
    """SECRET_KEY=new,old re-encrypts stored keys at start; a key no SECRET_KEY opens is refused,
    pausing its server and telling its owner by DM (no alerts channel), never paid by the bot's key."""
    old, new = new_key(), new_key()
    world.producer.accept_token(SERVER_KEY)
    club = add_club(world)
    owner = world.discord.guilds[club.guild_id].owner_id
    world.discord.users[owner] = FakeDiscord._make_user(owner, "Club Owner")
    await world.start_bot(SECRET_KEY=old)
    await save_key(world, club)
    before = (await world.repo.guild_billing(club.guild_id)).api_key
    await world.stop_bot()

    await world.start_bot(SECRET_KEY=f"{new},{old}")
    for _ in range(200):  # re-encrypted in the background after start
        stored = (await world.repo.guild_billing(club.guild_id)).api_key
        if stored != before:
            break
        await asyncio.sleep(0.05)
    assert stored is not None and stored != before and SecretBox(new).decrypt(stored) == SERVER_KEY
    await generate(world, "after rotation", club.member_id, club.channel_id)
    await world.wait_for_song(club.channel_id)
    assert audio_tokens(world)["after rotation"] == SERVER_KEY
    await world.stop_bot()

    await world.start_bot(SECRET_KEY=new_key())  # the owner lost both keys
    refused = await generate(world, "key lost", club.member_id, club.channel_id)
    assert "paused" in await reply_text(world, refused)
    assert audio_tokens(world)["key lost"] != world.producer.token
    await world.settle()
    dms = world.discord.messages.get(world.discord.dm_channel_id(owner), [])
    assert len(dms) == 1 and "save the key again" in dms[0].content and "Own Key Club" in dms[0].content
    assert world.discord.messages.get(world.discord.dm_channel_id(world.discord.owner_id), []) == []


def test_public_bot_mode_needs_a_secret_key() -> None:
    with pytest.raises(SettingsError, match="REQUIRE_SERVER_KEYS=true needs SECRET_KEY"):
        settings_from_mapping({"DISCORD_TOKEN": "x", "PRODUCER_API_TOKEN": "y", "REQUIRE_SERVER_KEYS": "true"})
    assert settings_from_mapping(
        {"DISCORD_TOKEN": "x", "PRODUCER_API_TOKEN": "y", "REQUIRE_SERVER_KEYS": "true", "SECRET_KEY": new_key()}
    ).require_server_keys
