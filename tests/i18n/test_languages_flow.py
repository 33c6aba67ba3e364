"""Members and servers in their own language, end to end: the real bot, the fake Discord, the fake API."""

from __future__ import annotations

from tests.fakes.fake_discord import FakeDiscord, FakeInteraction
from tests.harness import World, embed_field, generate, private_reply, reply_text
from tests.postgres import both_backends


def _embed(interaction: FakeInteraction) -> dict:
    assert interaction.original is not None and interaction.original.embeds
    return interaction.original.embeds[0]


async def test_commands_are_synced_with_their_localizations(world: World) -> None:
    """The fake Discord checks every localization like Discord and took the sync: German, Japanese and
    French names and descriptions are on the commands members see."""
    await world.start_bot()
    await world.discord.wait_for(lambda: world.discord.commands)
    synced = {command["name"]: command for command in world.discord.commands}
    assert synced["help"]["name_localizations"]["de"] == "hilfe"
    assert (
        synced["quota"]["description_localizations"]["fr"]
        == "Les morceaux restants aujourd'hui pour ce serveur et pour vous."
    )
    settings = {option["name"]: option for option in synced["settings"]["options"]}
    assert settings["language"]["name_localizations"]["ja"] == "言語"
    assert {choice["value"] for choice in settings["language"]["choices"]} == {
        "en-US",
        "de",
        "fr",
        "es-ES",
        "pt-BR",
        "ja",
    }
    menus = {command["name"]: command for command in world.discord.commands if command["type"] == 3}
    assert menus["Extend song"]["name_localizations"]["de"] == "Song verlängern"


async def test_a_german_member_gets_german_quota_errors_and_help(world: World) -> None:
    """Private replies follow the member's Discord language: /quota, an error and /help in German."""
    await world.start_bot()
    world.discord.user_locales[world.member_id] = "de"
    quota = await world.discord.invoke_slash("quota", user_id=world.member_id, channel_id=world.channel_id)
    await world.discord.wait_for(lambda: quota.original is not None)
    embed = _embed(quota)
    assert embed["title"] == "Songs heute" and embed["fields"][0]["name"] == "Dieser Server"
    assert embed["fields"][0]["value"] == "0 von 20 verbraucht"

    refused = await world.discord.invoke_slash(
        "allowance", {"songs_per_day": 5}, user_id=world.member_id, channel_id=world.channel_id
    )
    assert (
        await private_reply(world, refused)
        == "Nur der Besitzer des Bots kann das Tageskontingent eines Servers festlegen."
    )

    helped = await world.discord.invoke_slash("help", user_id=world.member_id, channel_id=world.channel_id)
    await world.discord.wait_for(lambda: helped.original is not None)
    embed = _embed(helped)
    assert embed["title"] == "Musikbot: Befehle"
    assert "Dieser Server hat heute noch **20 von 20** Credits" in embed["description"]
    fields = {field["name"]: field["value"] for field in embed["fields"]}
    assert "`/generieren` Einen Song aus einer kurzen Beschreibung machen." in fields["Songs machen"]


async def test_a_french_member_gets_french_and_an_unknown_locale_gets_english(world: World) -> None:
    """fr → French; a language the bot does not ship (Korean) → English, the source."""
    await world.start_bot()
    french, korean = world.discord.add_user("amélie"), world.discord.add_user("minji")
    world.discord.user_locales.update({french: "fr", korean: "ko"})
    for member, title in ((french, "Morceaux aujourd'hui"), (korean, "Songs today")):
        quota = await world.discord.invoke_slash("quota", user_id=member, channel_id=world.channel_id)
        await world.discord.wait_for(lambda quota=quota: quota.original is not None)
        assert _embed(quota)["title"] == title
    too_long = await generate(world, "x" * 201, french)
    assert "la limite est de 200" in await private_reply(world, too_long)


@both_backends  # the language is a column of guild_settings (migration 0014) on both databases
async def test_settings_language_ja_makes_the_next_song_post_japanese(world: World) -> None:
    """A manager sets the server to Japanese; the next song's post and status line are Japanese, and the
    member's prompt and title stay exactly as written."""
    await world.start_bot(callbacks=True)
    manager = world.discord.add_user("manager")
    world.discord.grant(manager, FakeDiscord.MANAGE_GUILD)
    setting = await world.discord.invoke_slash(
        "settings", {"language": "ja"}, user_id=manager, channel_id=world.channel_id
    )
    assert "Settings updated" in await reply_text(world, setting)  # the manager's own Discord is English
    assert embed_field(setting.original, "Language of song posts") == "日本語"

    prompt = "a rainy lofi song about Tokyo, *soft* piano"
    world.producer.script(title="Rain on Shibuya")
    requested = await generate(world, prompt)
    song = await world.wait_for_song(timeout=15)
    await world.settle()
    embed = song.embeds[0]
    assert embed["title"] == "Rain on Shibuya"
    assert embed["description"] == "a rainy lofi song about Tokyo, \\*soft\\* piano"  # escaped, never translated
    assert embed_field(song, "モデル") and embed_field(song, "長さ") and embed_field(song, "曲 ID")
    assert song.content.endswith("さん、曲ができました。")
    buttons = [item["label"] for row in song.components for item in row["components"]]
    assert "延長" in buttons and "カバー" in buttons
    await world.discord.wait_for(lambda: requested.original.content.startswith("✅"))
    assert "ができました" in requested.original.content


async def test_the_servers_preferred_locale_is_the_default_language(world: World) -> None:
    """A German community server (preferred locale de) gets German song posts without any setting; a
    member with an English Discord still gets English replies."""
    world.discord.guild_locales[world.guild_id] = "de"
    await world.start_bot(callbacks=True)
    await generate(world, "ein Lied über Regen")
    song = await world.wait_for_song(timeout=15)
    await world.settle()
    assert embed_field(song, "Dauer") and embed_field(song, "Angefragt von")
    assert embed_field(song, "Song-ID")
    quota = await world.discord.invoke_slash("quota", user_id=world.member_id, channel_id=world.channel_id)
    await world.discord.wait_for(lambda: quota.original is not None)
    assert _embed(quota)["title"] == "Songs today"
