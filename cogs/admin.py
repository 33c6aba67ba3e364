"""/settings for server managers, and /allowance for the bot's owner."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.errors import InvalidInput
from bot.i18n import N_, Locale, language_name, languages, number, t
from bot.songs.render import EMBED_COLOUR, NO_MENTIONS
from bot.storage.models import DEFAULT_FAVOURITES_THRESHOLD
from bot.storage.repository import GuildSettings, Limits
from cogs._common import MODEL_CHOICES
from cogs.billing import add_money_fields, apply_money_settings, open_api_key_form

if TYPE_CHECKING:
    from bot.app.bot import MusicBot


def settings_embed(
    own: GuildSettings, limits: Limits, default_model: str, language: str, locale: Locale
) -> discord.Embed:
    embed = discord.Embed(title=t(locale, "Music bot settings for this server"), colour=EMBED_COLOUR)
    embed.add_field(name=t(locale, "Default model"), value=default_model, inline=True)
    feed = f"<#{own.feed_channel_id}>" if own.feed_channel_id else t(locale, "off")
    embed.add_field(name=t(locale, "Song feed"), value=feed, inline=True)
    uploads = t(locale, "allowed") if own.allow_uploads else t(locale, "not allowed")
    embed.add_field(name=t(locale, "Own audio uploads"), value=uploads, inline=True)
    threshold = own.favourites_threshold or DEFAULT_FAVOURITES_THRESHOLD
    favourites = (
        t(locale, "{channel} at {stars} ⭐", channel=f"<#{own.favourites_channel_id}>", stars=threshold)
        if own.favourites_channel_id
        else t(locale, "off")
    )
    embed.add_field(name=t(locale, "Favourites channel"), value=favourites, inline=True)
    stay = t(locale, "yes") if own.stay_in_voice else t(locale, "no")
    embed.add_field(name=t(locale, "Stay in voice"), value=stay, inline=True)
    allowance = t(locale, "no limit (own API key)") if limits.own_key else number(locale, limits.daily_allowance)
    embed.add_field(name=t(locale, "Songs per day (server)"), value=allowance, inline=True)
    cap = number(locale, limits.member_daily_cap) if limits.member_daily_cap is not None else t(locale, "no cap")
    embed.add_field(name=t(locale, "Songs per day (each member)"), value=cap, inline=True)
    chosen = language_name(language)
    if not own.language:
        chosen = t(locale, "{language} (the server's own)", language=chosen)
    embed.add_field(name=t(locale, "Language of song posts"), value=chosen, inline=True)
    embed.add_field(
        name=t(locale, "Queue"),
        value=t(
            locale,
            "{running} running at once, {per_member} per member, {queued} waiting at most",
            running=limits.max_running,
            per_member=limits.max_running_per_member,
            queued=limits.max_queued,
        ),
        inline=False,
    )
    embed.set_footer(text=t(locale, "Managers change these with /settings; the bot owner sets the daily allowance."))
    return embed


OWN_KEY_ALLOWANCE = N_(
    "Server `{server}` pays for its songs with its own API key, so your allowance does not limit it; "
    "it applies again if the server removes its key."
)
LANGUAGE_CHOICES = [app_commands.Choice(name=language_name(code), value=code) for code in languages()]
"""Every shipped language, named in itself; a new catalog in bot/i18n/locales adds one."""


class Admin(commands.Cog):
    """Per-server settings (Manage Server) and the owner's allowance control."""

    def __init__(self, bot: MusicBot) -> None:
        self.bot = bot

    @app_commands.command(name="settings", description="Show or change the music bot's settings for this server.")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.describe(
        default_model="The model used when a member does not pick one",
        song_feed="A channel where every finished song is also posted",
        clear_song_feed="Stop cross-posting to the song feed",
        member_cap="Songs each member may make per day (0 = no cap)",
        allow_uploads="Whether members may use their own audio files",
        max_running="Songs that may be generating at once in this server",
        max_running_per_member="Songs one member may have generating at once",
        max_queued="Songs that may wait in line",
        favourites_channel="A channel where a song is posted once it has enough stars",
        favourites_threshold="Stars a song needs to be posted to the favourites channel (default 3)",
        clear_favourites_channel="Stop posting favourites",
        web_gallery="Whether members can browse this server's songs on the web (and share them by link)",
        stay_in_voice="Keep the bot in its voice channel when the queue is empty or everyone left",
        api_key="Pay for this server's songs with its own Producer API key (opens a form)",
        clear_api_key="Remove this server's own API key",
        monthly_budget="Credits this server may spend per calendar month, UTC (0 = no budget)",
        alerts_channel="Where managers are told about the budget and the API key",
        language="The language of song posts, status lines and other public messages",
    )
    @app_commands.choices(default_model=MODEL_CHOICES, language=LANGUAGE_CHOICES)
    async def settings(
        self,
        interaction: discord.Interaction,
        default_model: str | None = None,
        song_feed: discord.TextChannel | None = None,
        clear_song_feed: bool = False,
        member_cap: app_commands.Range[int, 0, 1000] | None = None,
        allow_uploads: bool | None = None,
        max_running: app_commands.Range[int, 1, 10] | None = None,
        max_running_per_member: app_commands.Range[int, 1, 10] | None = None,
        max_queued: app_commands.Range[int, 0, 100] | None = None,
        favourites_channel: discord.TextChannel | None = None,
        favourites_threshold: app_commands.Range[int, 1, 100] | None = None,
        clear_favourites_channel: bool = False,
        web_gallery: bool | None = None,
        stay_in_voice: bool | None = None,
        api_key: bool = False,
        clear_api_key: bool = False,
        monthly_budget: app_commands.Range[int, 0, 10_000_000] | None = None,
        alerts_channel: discord.TextChannel | None = None,
        language: str | None = None,
    ) -> None:
        assert interaction.guild_id is not None
        # Default permissions can be loosened by a server's admins; the check that counts is here.
        if not interaction.permissions.manage_guild:
            raise InvalidInput("You need the Manage Server permission to change the music bot's settings.")
        changes: dict[str, Any] = {}
        if default_model is not None:
            changes["default_model"] = default_model
        if song_feed is not None:
            changes["feed_channel_id"] = song_feed.id
        if clear_song_feed:
            changes["feed_channel_id"] = None
        if member_cap is not None:
            if not 0 <= member_cap <= 1000:
                raise InvalidInput("`member_cap` must be between 0 and 1000.")
            changes["member_daily_cap"] = member_cap or None
        if allow_uploads is not None:
            changes["allow_uploads"] = int(allow_uploads)
        if stay_in_voice is not None:
            changes["stay_in_voice"] = stay_in_voice
            party = self.bot.parties.get(interaction.guild_id)
            if party is not None:
                party.stay = stay_in_voice  # the party playing now follows at once
        if favourites_channel is not None:
            changes["favourites_channel_id"] = favourites_channel.id
        if clear_favourites_channel:
            changes["favourites_channel_id"] = None
        if language is not None:
            if language not in languages():
                raise InvalidInput("`language` must be one of {languages}.", languages=", ".join(languages()))
            changes["language"] = language
        for name, value, low, high in (
            ("max_running", max_running, 1, 10),
            ("max_running_per_member", max_running_per_member, 1, 10),
            ("max_queued", max_queued, 0, 100),
            ("favourites_threshold", favourites_threshold, 1, 100),
        ):
            if value is not None:
                if not low <= value <= high:
                    raise InvalidInput("`{name}` must be between {low} and {high}.", name=name, low=low, high=high)
                changes[name] = value
        own = await self.bot.repo.update_guild_settings(interaction.guild_id, **changes)
        if web_gallery is not None:
            await self.bot.repo.set_web_gallery(interaction.guild_id, web_gallery)
        said = await apply_money_settings(
            self.bot,
            interaction.guild_id,
            clear_api_key=clear_api_key,
            monthly_budget=monthly_budget,
            alerts_channel=alerts_channel,
        )
        if api_key:
            await open_api_key_form(self.bot, interaction)  # the form is this command's answer
            return
        locale = interaction.locale
        limits = await self.bot.songs.limits(interaction.guild_id)
        model = await self.bot.songs.default_model(interaction.guild_id)
        server_language = await self.bot.languages.of(interaction.guild_id)
        embed = settings_embed(own, limits, model, server_language, locale)
        gallery = await self._gallery_state(interaction.guild_id, locale)
        embed.add_field(name=t(locale, "Web gallery"), value=gallery, inline=True)
        billing = await self.bot.billing.billing(interaction.guild_id)
        add_money_fields(embed, billing, require_keys=self.bot.settings.require_server_keys, locale=locale)
        changed = changes or said or web_gallery is not None or monthly_budget is not None or alerts_channel is not None
        text = " ".join([t(locale, "Settings updated."), *(t(locale, one) for one in said)]) if changed else None
        await interaction.response.send_message(text, embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS)
        if changes:
            await self.bot.songs.pump(interaction.guild_id)  # larger limits may let waiting songs start

    async def _gallery_state(self, guild_id: int, locale: Locale) -> str:
        links = self.bot.web_links
        if links is None:
            return t(locale, "not set up on this bot")
        return links.gallery(guild_id) if await self.bot.repo.web_gallery(guild_id) else t(locale, "off")

    @app_commands.command(name="allowance", description="Bot owner only: set a server's songs per day.")
    @app_commands.default_permissions(administrator=True)
    @app_commands.describe(
        songs_per_day="Songs this server may make per UTC day",
        server_id="The server (default: this one)",
        reset="Go back to the bot's default (GUILD_DAILY_QUOTA)",
    )
    async def allowance(
        self,
        interaction: discord.Interaction,
        songs_per_day: app_commands.Range[int, 0, 100000] | None = None,
        server_id: str | None = None,
        reset: bool = False,
    ) -> None:
        if not await self.bot.is_owner(interaction.user):
            raise InvalidInput("Only the bot's owner can set a server's daily allowance.")
        target = interaction.guild_id
        if server_id is not None:
            if not server_id.strip().isdigit():
                raise InvalidInput("`server_id` must be a server's numeric id.")
            target = int(server_id)
        if target is None:
            raise InvalidInput("Give `server_id` when using this outside a server.")
        if songs_per_day is None and not reset:
            limits = await self.bot.songs.limits(target)
            locale = interaction.locale
            text = OWN_KEY_ALLOWANCE if limits.own_key else N_("Server `{server}` may make {songs} songs per day.")
            await interaction.response.send_message(
                t(locale, text, server=target, songs=number(locale, limits.daily_allowance)), ephemeral=True
            )
            return
        if songs_per_day is not None and not 0 <= songs_per_day <= 100000:
            raise InvalidInput("`songs_per_day` must be between 0 and 100000.")
        await self.bot.repo.update_guild_settings(target, daily_allowance=None if reset else songs_per_day)
        limits = await self.bot.songs.limits(target)
        locale = interaction.locale
        songs = number(locale, limits.daily_allowance)
        text = t(locale, "Server `{server}` may now make {songs} songs per day.", server=target, songs=songs)
        if limits.own_key:
            text = t(locale, "Saved.") + " " + t(locale, OWN_KEY_ALLOWANCE, server=target)
        await interaction.response.send_message(text, ephemeral=True)


async def setup(bot: MusicBot) -> None:
    """Load /settings and /allowance."""
    await bot.add_cog(Admin(bot))
