"""Proves FakeDiscord against discord.py's real client: login, gateway, app commands, modals, limits."""

from __future__ import annotations

import asyncio
import io
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.fakes.fake_discord import UPLOAD_LIMITS, FakeDiscord, FakeUpload


@dataclass
class World:
    fake: FakeDiscord
    guild_id: int
    channel_id: int
    user_id: int


@dataclass
class Seen:
    """What the bot-side code observed, for assertions."""

    modal_values: asyncio.Future[dict[str, str]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    messages: list[discord.Message] = field(default_factory=list)
    errors: list[Exception] = field(default_factory=list)
    clip_bytes: bytes = b""


class FeedbackModal(discord.ui.Modal, title="Feedback"):
    """One classic action-row input plus one Label-wrapped (type 18) input."""

    subject = discord.ui.TextInput(label="Subject", max_length=50, custom_id="subject")
    body_input = discord.ui.TextInput(label="Body", style=discord.TextStyle.paragraph, custom_id="body")

    def __init__(self, seen: Seen) -> None:
        super().__init__()
        self.seen = seen
        self.mood = discord.ui.TextInput(custom_id="mood", default="fine", required=False)
        self.add_item(discord.ui.Label(text="Mood", component=self.mood))

    async def on_submit(self, interaction: discord.Interaction) -> None:
        values = {"subject": self.subject.value, "body": self.body_input.value, "mood": self.mood.value}
        self.seen.modal_values.set_result(values)
        await interaction.response.send_message("Thanks!", ephemeral=True)


class PanelView(discord.ui.View):
    @discord.ui.button(label="Again", custom_id="panel:again")
    async def again(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.edit_message(content="Clicked!", view=None)


class FakeBot(commands.Bot):
    def __init__(self, seen: Seen) -> None:
        intents = discord.Intents.default()
        intents.members = False
        intents.presences = False
        super().__init__(command_prefix="!", intents=intents, guild_ready_timeout=0.05)
        self.seen = seen

        @self.tree.command(name="make", description="Make a track")
        @app_commands.describe(prompt="What to make", clip="A reference clip")
        async def make(interaction: discord.Interaction, prompt: str, clip: discord.Attachment) -> None:
            await interaction.response.defer(thinking=True)
            await interaction.edit_original_response(content=f"Working on {prompt}…")
            data = await clip.read()  # downloads through the fake's CDN route
            self.seen.clip_bytes = data
            channel = self.get_channel(interaction.channel_id) or self.get_partial_messageable(interaction.channel_id)
            embed = discord.Embed(title=prompt, description=f"{len(data)} bytes of {clip.filename}")
            await channel.send(embed=embed, file=discord.File(io.BytesIO(data), filename="track.mp3"))

        @self.tree.command(name="feedback", description="Tell us something")
        async def feedback(interaction: discord.Interaction) -> None:
            await interaction.response.send_modal(FeedbackModal(self.seen))

        @self.tree.command(name="panel", description="Show a panel")
        async def panel(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("Panel", view=PanelView())

        @self.tree.command(name="slow", description="Answers too late")
        async def slow(interaction: discord.Interaction) -> None:
            await asyncio.sleep(0.3)
            try:
                await interaction.response.defer()
            except discord.NotFound as exc:
                self.seen.errors.append(exc)

        @self.tree.context_menu(name="Remix")
        async def remix(interaction: discord.Interaction, message: discord.Message) -> None:
            await interaction.response.send_message(f"Remixing {message.content}", ephemeral=True)

    async def setup_hook(self) -> None:
        await self.tree.sync()

    async def on_message(self, message: discord.Message) -> None:
        self.seen.messages.append(message)


@pytest.fixture
async def world() -> Any:
    fake = FakeDiscord()
    await fake.start()
    old_base = discord.http.Route.BASE
    discord.http.Route.BASE = fake.api_base
    guild_id = fake.add_guild("Test Guild")
    channel_id = fake.add_channel(guild_id, "general")
    user_id = fake.add_user("Alice")
    try:
        yield World(fake, guild_id, channel_id, user_id)
    finally:
        discord.http.Route.BASE = old_base
        await fake.close()


async def start_bot(world: World, seen: Seen) -> tuple[FakeBot, asyncio.Task[None]]:
    bot = FakeBot(seen)
    task = asyncio.create_task(bot.start(world.fake.token))
    await world.fake.wait_until_ready()
    await asyncio.wait_for(bot.wait_until_ready(), 5)
    return bot, task


async def stop_bot(bot: FakeBot, task: asyncio.Task[None]) -> None:
    await bot.close()
    await asyncio.wait_for(task, 5)  # start() returns once closed; re-raises anything it hit


@pytest.fixture
async def seen() -> Seen:
    return Seen()


@pytest.fixture
async def bot(world: World, seen: Seen) -> Any:
    bot, task = await start_bot(world, seen)
    try:
        yield bot
    finally:
        await stop_bot(bot, task)


async def test_login_sync_and_ready(world: World, bot: FakeBot) -> None:
    fake = world.fake
    assert fake.identify_count == 1
    assert fake.sync_calls == [("global", None)]
    make = next(c for c in fake.commands if c["name"] == "make")
    assert [(o["name"], o["type"], o.get("required")) for o in make["options"]] == [
        ("prompt", 3, True),
        ("clip", 11, True),
    ]
    assert bot.user is not None and bot.user.id == fake.bot_user_id
    assert bot.application_id == fake.application_id
    guild = bot.get_guild(world.guild_id)
    assert guild is not None and guild.get_channel(world.channel_id) is not None
    assert guild.me is not None and guild.me.guild_permissions.send_messages
    assert ("GET", "/users/@me") in fake.requests
    assert fake.unhandled == []


async def test_slash_defer_edit_and_channel_upload(world: World, bot: FakeBot, seen: Seen) -> None:
    fake = world.fake
    clip = FakeUpload("ref.mp3", b"ID3" + bytes(range(256)) * 40)
    inter = await fake.invoke_slash(
        "make", {"prompt": "lofi"}, user_id=world.user_id, channel_id=world.channel_id, attachments={"clip": clip}
    )
    posted = await fake.wait_for_message(world.channel_id, lambda m: bool(m.attachments))

    assert [r["type"] for r in inter.responses] == [5]  # deferred with thinking
    assert inter.original is not None and inter.original.content == "Working on lofi…"
    assert inter.original.edits == 1 and not inter.ephemeral
    assert seen.clip_bytes == clip.data
    assert posted.embeds[0]["title"] == "lofi"
    assert posted.embeds[0]["description"] == f"{len(clip.data)} bytes of ref.mp3"
    assert posted.attachments[0].filename == "track.mp3"
    assert posted.attachments[0].data == clip.data
    assert posted.attachments[0].content_type == "audio/mpeg"
    assert fake.unhandled == []


async def test_modal_round_trip_keeps_newlines(world: World, bot: FakeBot, seen: Seen) -> None:
    fake = world.fake
    inter = await fake.invoke_slash("feedback", user_id=world.user_id, channel_id=world.channel_id)
    modal = await fake.wait_for(lambda: inter.modal)
    assert modal["title"] == "Feedback"
    assert [c["type"] for c in modal["components"]] == [1, 1, 18]

    body = "first line\nsecond line\n\n  indented"
    submitted = await fake.submit_modal(inter, {"subject": "Hello", "body": body})
    values = await asyncio.wait_for(seen.modal_values, 5)
    assert values == {"subject": "Hello", "body": body, "mood": "fine"}
    label = submitted.data["components"][2]
    assert label == {
        "type": 18,
        "id": label["id"],
        "component": {"type": 4, "id": label["component"]["id"], "custom_id": "mood", "value": "fine"},
    }
    await fake.wait_for(lambda: submitted.responded)
    assert submitted.ephemeral and submitted.original.content == "Thanks!"


async def test_modal_rejects_unknown_inputs(world: World, bot: FakeBot) -> None:
    inter = await world.fake.invoke_slash("feedback", user_id=world.user_id, channel_id=world.channel_id)
    await world.fake.wait_for(lambda: inter.modal)
    with pytest.raises(ValueError, match="no inputs"):
        await world.fake.submit_modal(inter, {"nope": "x"})


async def test_button_click_edits_message(world: World, bot: FakeBot) -> None:
    fake = world.fake
    inter = await fake.invoke_slash("panel", user_id=world.user_id, channel_id=world.channel_id)
    panel = await fake.wait_for(lambda: inter.original)
    assert panel.components[0]["components"][0]["custom_id"] == "panel:again"
    click = await fake.click_button(panel, "panel:again", user_id=world.user_id)
    await fake.wait_for(lambda: click.responded)
    assert [r["type"] for r in click.responses] == [7]
    assert panel.content == "Clicked!" and panel.components == []


async def test_message_context_menu(world: World, bot: FakeBot) -> None:
    fake = world.fake
    target = await fake.post_user_message(world.channel_id, "my riff", user_id=world.user_id)
    inter = await fake.invoke_message_command(
        "Remix", target=target, user_id=world.user_id, channel_id=world.channel_id
    )
    await fake.wait_for(lambda: inter.responded)
    assert inter.original.content == "Remixing my riff" and inter.ephemeral


async def test_content_over_2000_is_invalid_form_body(world: World, bot: FakeBot) -> None:
    channel = bot.get_channel(world.channel_id)
    with pytest.raises(discord.HTTPException) as info:
        await channel.send("x" * 2001)
    assert info.value.status == 400 and info.value.code == 50035
    assert "content" in str(info.value)
    assert world.fake.messages[world.channel_id] == []


@pytest.mark.parametrize(
    ("kwargs", "where"),
    [
        ({"embed": discord.Embed(title="t" * 257)}, "embeds.0.title"),
        ({"embed": discord.Embed(description="d" * 4097)}, "embeds.0.description"),
        ({"embeds": [discord.Embed(description="d" * 1000) for _ in range(7)]}, "embeds"),
        ({"embed": discord.Embed().add_field(name="n", value="v" * 1025)}, "embeds.0.fields.0.value"),
    ],
)
async def test_embed_limits(world: World, bot: FakeBot, kwargs: dict[str, Any], where: str) -> None:
    with pytest.raises(discord.HTTPException) as info:
        await bot.get_channel(world.channel_id).send(**kwargs)
    assert info.value.code == 50035 and where in str(info.value)


async def test_429_is_retried_and_lands_once(world: World, bot: FakeBot) -> None:
    fake = world.fake
    fake.fail_next("POST", rf"^/channels/{world.channel_id}/messages$", status=429, retry_after=0.1)
    started = time.monotonic()
    await bot.get_channel(world.channel_id).send("hello")
    assert time.monotonic() - started >= 0.1
    assert [m.content for m in fake.messages[world.channel_id]] == ["hello"]
    assert fake.requests.count(("POST", f"/channels/{world.channel_id}/messages")) == 2


async def test_channel_rate_limit_counts_429s(world: World, bot: FakeBot) -> None:
    fake = world.fake
    fake.set_channel_rate_limit(world.channel_id, limit=2, window=0.2)
    channel = bot.get_channel(world.channel_id)
    for n in range(3):
        await channel.send(f"m{n}")
    assert [m.content for m in fake.messages[world.channel_id]] == ["m0", "m1", "m2"]
    assert fake.rate_limited_count[world.channel_id] == 1


async def test_file_over_upload_limit_is_413(world: World, bot: FakeBot) -> None:
    big = discord.File(io.BytesIO(b"\0" * (UPLOAD_LIMITS[0] + 1)), filename="big.mp3")
    with pytest.raises(discord.HTTPException) as info:
        await bot.get_channel(world.channel_id).send(file=big)
    assert info.value.status == 413 and info.value.code == 40005


async def test_dm_closed_and_deleted_channel(world: World, bot: FakeBot) -> None:
    fake = world.fake
    user = await bot.fetch_user(world.user_id)
    await user.send("hi there")
    dm_id = fake.dm_channel_id(world.user_id)
    assert [m.content for m in fake.messages[dm_id]] == ["hi there"]

    fake.close_dms(world.user_id)
    with pytest.raises(discord.Forbidden) as info:
        await user.send("again")
    assert info.value.code == 50007

    fake.delete_channel(world.channel_id)
    with pytest.raises(discord.NotFound) as not_found:
        await bot.get_partial_messageable(world.channel_id).send("gone")
    assert not_found.value.code == 10003


async def test_late_initial_response_is_unknown_interaction(world: World, bot: FakeBot, seen: Seen) -> None:
    world.fake.interaction_deadline = 0.1
    inter = await world.fake.invoke_slash("slow", user_id=world.user_id, channel_id=world.channel_id)
    await world.fake.wait_for(lambda: seen.errors)
    assert isinstance(seen.errors[0], discord.NotFound) and seen.errors[0].code == 10062
    assert not inter.responded


async def test_user_messages_respect_message_content_intent(world: World, bot: FakeBot, seen: Seen) -> None:
    fake = world.fake
    await fake.post_user_message(world.channel_id, "no ping", user_id=world.user_id)
    await fake.post_user_message(world.channel_id, "hey bot", user_id=world.user_id, mentions_bot=True)
    await fake.wait_for(lambda: len(seen.messages) >= 2)
    # Intents.default() lacks message_content: Discord blanks content unless the bot is mentioned.
    assert [m.content for m in seen.messages] == ["", f"<@{fake.bot_user_id}> hey bot"]
    assert bot.user in seen.messages[1].mentions


async def test_bot_restart_reconnects(world: World, seen: Seen) -> None:
    started = time.monotonic()
    bot, task = await start_bot(world, seen)
    startup = time.monotonic() - started
    await stop_bot(bot, task)
    second, task2 = await start_bot(world, Seen())
    await stop_bot(second, task2)
    assert world.fake.identify_count == 2
    assert world.fake.sync_calls == [("global", None), ("global", None)]
    assert startup < 2.0, f"bot start took {startup:.2f}s"


async def test_auth_and_unknown_routes(world: World) -> None:
    fake = world.fake
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{fake.api_base}/users/@me") as resp:
            assert resp.status == 401 and await resp.json() == {"message": "401: Unauthorized", "code": 0}
        headers = {"Authorization": f"Bot {fake.token}"}
        async with session.get(f"{fake.api_base}/guilds/{world.guild_id}/bans", headers=headers) as resp:
            assert resp.status == 404 and (await resp.json())["code"] == 0
    assert fake.unhandled == [("GET", f"/guilds/{world.guild_id}/bans")]


async def test_cdn_requires_signed_url(world: World, bot: FakeBot, seen: Seen) -> None:
    fake = world.fake
    upload = FakeUpload("ref.mp3", b"abc")
    await fake.invoke_slash(
        "make", {"prompt": "x"}, user_id=world.user_id, channel_id=world.channel_id, attachments={"clip": upload}
    )
    posted = await fake.wait_for_message(world.channel_id, lambda m: bool(m.attachments))
    url = posted.attachments[0].url
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as resp:
            assert resp.status == 200 and await resp.read() == b"abc"
            assert resp.headers["Content-Type"] == "audio/mpeg"
        async with session.get(url.split("?")[0]) as resp:
            assert resp.status == 404


async def test_dropped_gateway_reconnects_with_fresh_identify(world: World, bot: FakeBot) -> None:
    fake = world.fake

    async def no_identify_delay(shard_id: int | None, *, initial: bool = False) -> None:
        return None  # discord.py sleeps 5 s before every non-initial IDENTIFY

    bot.before_identify_hook = no_identify_delay  # type: ignore[method-assign]
    await fake.drop_connections()
    await fake.wait_for(lambda: fake.identify_count == 2)
    await fake.wait_until_ready()
    inter = await fake.invoke_slash("panel", user_id=world.user_id, channel_id=world.channel_id)
    await fake.wait_for(lambda: inter.responded)


async def test_followups_after_defer_and_threads_and_reactions(world: World, bot: FakeBot) -> None:
    fake = world.fake

    @bot.tree.command(name="jam", description="Jam")
    async def jam(interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        first = await interaction.followup.send("first", wait=True)
        second = await interaction.followup.send("second", ephemeral=False, wait=True)
        await interaction.followup.edit_message(first.id, content="first (edited)")
        channel = bot.get_channel(interaction.channel_id)
        thread = await channel.create_thread(name="Jam session", message=discord.Object(id=second.id))
        await thread.send("in thread")

    await bot.tree.sync()
    inter = await fake.invoke_slash("jam", user_id=world.user_id, channel_id=world.channel_id)
    await fake.wait_for(lambda: len(inter.followups) == 2)
    # The first follow-up after a thinking defer replaces the loading message and stays ephemeral.
    assert inter.followups[0] is inter.original and inter.original.ephemeral
    assert not inter.followups[1].ephemeral and inter.followups[1].content == "second"
    await fake.wait_for(lambda: inter.original.content == "first (edited)")
    thread_msg = await fake.wait_for_message(inter.followups[1].id, lambda m: m.content == "in thread")
    assert inter.followups[1].thread_id == thread_msg.channel_id

    posted = await bot.get_channel(world.channel_id).send("react to me")
    await posted.add_reaction("🎵")
    stored = await fake.wait_for_message(world.channel_id, lambda m: m.content == "react to me")
    assert stored.reactions == ["🎵"]
    await posted.delete()
    assert stored.deleted


async def test_slash_in_dm(world: World, bot: FakeBot) -> None:
    fake = world.fake
    inter = await fake.invoke_slash("panel", user_id=world.user_id, channel_id=fake.dm_channel_id(world.user_id))
    await fake.wait_for(lambda: inter.responded)
    assert "user" in inter.payload and "guild_id" not in inter.payload
    assert inter.original.guild_id is None and inter.original.content == "Panel"
