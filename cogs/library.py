"""The song library: /song info (lineage), /songs (browse) and /show (re-post with buttons)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.app.commands import report_error
from bot.core.errors import InvalidInput
from bot.i18n import N_, Locale, t, tn
from bot.songs.render import EMBED_COLOUR, NO_MENTIONS, clip, display_title, format_duration
from bot.songs.status import jump_url
from bot.storage.repository import SongRow
from bot.storage.songs import LibraryOrder
from cogs._common import song_autocomplete

if TYPE_CHECKING:
    from bot.app.bot import MusicBot

PAGE_SIZE = 10
SHOW_COOLDOWN = 30.0
"""Seconds between two /show by one member in one server: each re-uploads a file of up to 100 MiB."""
HIDDEN_SONG = N_("🔒 a song from a channel you cannot see")
LINEAGE_DEPTH = 15
"""How far up the parent chain /song info walks; a longer chain shows its nearest ancestors."""


SORTS = [
    app_commands.Choice(name="newest", value="newest"),
    app_commands.Choice(name="top", value="top"),
]
PERIODS = [
    app_commands.Choice(name="last 7 days", value="week"),
    app_commands.Choice(name="all time", value="all"),
]


def song_line(song: SongRow, stars: int | None = None, locale: Locale = None) -> str:
    """One song in a list: short id, title, action, who made it, stars, and a link to its message."""
    where = jump_url(song.guild_id, song.channel_id, song.message_id) if song.message_id else ""
    link = f" · [{t(locale, 'message')}]({where})" if song.message_id else ""
    title = discord.utils.escape_markdown(display_title(song, 60))
    starred = f" · ⭐ {stars}" if stars else ""
    return (
        f"`{song.id[:8]}` **{title}** · {format_duration(song.duration)} · {song.action} · "
        f"<@{song.requester_id}>{starred}{link}"
    )


@dataclass(frozen=True, slots=True)
class LibraryView:
    """What /songs lists: the filters and the order (and, for the top, since when stars count)."""

    text: str = ""
    member_id: int | None = None
    sort: str | None = None
    starred_since: float | None = None
    channel_ids: tuple[int, ...] | None = None
    """Only songs from these channels: the ones the member who asked can view."""

    @property
    def top(self) -> bool:
        return self.sort == "top"

    @property
    def order(self) -> LibraryOrder:
        """Best matches first when there is text, unless the member asked for the newest."""
        if self.sort in ("top", "newest"):
            return "top" if self.sort == "top" else "newest"
        return "auto"

    def heading(self, locale: Locale) -> str:
        if not self.top:
            return t(locale, "Songs in this server")
        if self.starred_since is not None:
            return t(locale, "Most starred songs of the last 7 days")
        return t(locale, "Most starred songs of all time")


class SongsPager(discord.ui.View):
    """Prev/Next through the library for the member who asked (the message is private anyway)."""

    def __init__(self, bot: MusicBot, guild_id: int, *, listing: LibraryView, total: int, locale: Locale) -> None:
        super().__init__(timeout=300)
        self.bot, self.guild_id, self.listing = bot, guild_id, listing
        self.locale = locale
        self.previous.label, self.next.label = t(locale, "Previous"), t(locale, "Next")
        self.pages = max(1, math.ceil(total / PAGE_SIZE))
        self.total = total
        self.page = 0

    async def render(self) -> discord.Embed:
        listing = self.listing
        songs = await self.bot.repo.search_songs(
            self.guild_id,
            text=listing.text,
            requester_id=listing.member_id,
            limit=PAGE_SIZE,
            offset=self.page * PAGE_SIZE,
            order=listing.order,
            starred_since=listing.starred_since,
            channel_ids=listing.channel_ids,
        )
        stars = await self.bot.repo.star_counts((song.id for song in songs), since=listing.starred_since)
        locale = self.locale
        embed = discord.Embed(title=listing.heading(locale), colour=EMBED_COLOUR)
        lines = "\n".join(song_line(song, stars.get(song.id), locale) for song in songs)
        empty = t(locale, "No starred songs yet.") if listing.top else t(locale, "No songs match.")
        embed.description = clip(lines, 4096) or empty
        page = t(locale, "Page {page} of {pages}", page=self.page + 1, pages=self.pages)
        embed.set_footer(text=f"{page} · {tn(locale, '{count} song', '{count} songs', self.total)}")
        self.previous.disabled = self.page == 0
        self.next.disabled = self.page >= self.pages - 1
        return embed

    async def _turn(self, interaction: discord.Interaction, step: int) -> None:
        self.page = min(max(self.page + step, 0), self.pages - 1)
        await interaction.response.edit_message(embed=await self.render(), view=self)

    @discord.ui.button(label="<", style=discord.ButtonStyle.secondary)  # labelled in the member's language
    async def previous(self, interaction: discord.Interaction, _: discord.ui.Button[Any]) -> None:
        await self._turn(interaction, -1)

    @discord.ui.button(label=">", style=discord.ButtonStyle.secondary)
    async def next(self, interaction: discord.Interaction, _: discord.ui.Button[Any]) -> None:
        await self._turn(interaction, 1)

    async def on_error(self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item[Any]) -> None:
        await report_error(interaction, error)


class Library(commands.Cog):
    """Find songs again and see where they came from."""

    song = app_commands.Group(name="song", description="About one song", guild_only=True)

    def __init__(self, bot: MusicBot) -> None:
        self.bot = bot

    @song.command(name="info", description="A song's family tree: what it came from and what came of it.")
    @app_commands.describe(song="A song from this server: pick from the list, or paste its id or message link")
    @app_commands.autocomplete(song=song_autocomplete)
    async def info(self, interaction: discord.Interaction, song: str) -> None:
        assert interaction.guild_id is not None
        target = await self.bot.find_song(interaction, song)
        chain = [target]
        while chain[-1].parent_song_id and len(chain) < LINEAGE_DEPTH:
            parent = await self.bot.repo.song(chain[-1].parent_song_id)
            if parent is None or parent.guild_id != interaction.guild_id:
                break
            chain.append(parent)
        member = interaction.user
        visible = set(await self.bot.visibility.channels_for(member)) if isinstance(member, discord.Member) else None

        locale = interaction.locale
        hidden = t(locale, HIDDEN_SONG)

        def line(item: SongRow) -> str:
            return song_line(item, locale=locale) if visible is None or item.channel_id in visible else hidden

        children = [child for child in await self.bot.repo.children(target.id) if line(child) != hidden]
        title = t(locale, "Lineage of {song}", song=display_title(target))
        embed = discord.Embed(title=clip(title, 256), colour=EMBED_COLOUR)
        ordered = list(reversed(chain))  # the root first, this song last
        this_song = t(locale, "← this song")
        lines = [
            ("↳ " if index else "") + line(item) + (f" {this_song}" if item is target else "")
            for index, item in enumerate(ordered)
        ]
        embed.description = clip("\n".join(lines), 4096)
        made = "\n".join(song_line(child, locale=locale) for child in children) or t(locale, "Nothing yet.")
        embed.add_field(
            name=t(locale, "Made from this ({count})", count=len(children)), value=clip(made, 1024), inline=False
        )
        embed.set_footer(text=t(locale, "Song id {id}", id=target.id))
        if self.bot.web_links is not None:
            embed.url = self.bot.web_links.song_page(target.guild_id, target.id)
            embed.add_field(
                name=t(locale, "On the web"), value=f"[{t(locale, 'Song page')}]({embed.url})", inline=False
            )
        await interaction.response.send_message(embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS)

    @app_commands.command(name="songs", description="Browse this server's songs.")
    @app_commands.guild_only()
    @app_commands.describe(
        member="Only songs this member made",
        text="Words from the title, the prompt or style, or the lyrics (or the start of a song id)",
        sort="newest first, or top: the most starred (default: best match first with text, else newest)",
        period="For sort:top: stars of the last 7 days (default) or of all time",
    )
    @app_commands.choices(sort=SORTS, period=PERIODS)
    async def songs(
        self,
        interaction: discord.Interaction,
        member: discord.Member | None = None,
        text: app_commands.Range[str, 1, 100] | None = None,
        sort: str | None = None,
        period: str = "week",
    ) -> None:
        assert interaction.guild_id is not None
        viewer = interaction.user
        visible = await self.bot.visibility.channels_for(viewer) if isinstance(viewer, discord.Member) else None
        listing = LibraryView(
            text=(text or "").strip(),
            member_id=member.id if member else None,
            sort=sort,
            starred_since=self.bot.favourites.top_since(all_time=period == "all") if sort == "top" else None,
            channel_ids=tuple(visible) if visible is not None else None,
        )
        total = await self.bot.repo.count_songs(
            interaction.guild_id,
            text=listing.text,
            requester_id=listing.member_id,
            order=listing.order,
            starred_since=listing.starred_since,
            channel_ids=listing.channel_ids,
        )
        pager = SongsPager(self.bot, interaction.guild_id, listing=listing, total=total, locale=interaction.locale)
        await interaction.response.send_message(embed=await pager.render(), view=pager, ephemeral=True)

    @app_commands.command(name="show", description="Post a song again, with its buttons.")
    @app_commands.guild_only()
    @app_commands.checks.cooldown(1, SHOW_COOLDOWN, key=lambda interaction: (interaction.guild_id, interaction.user.id))
    @app_commands.describe(song="A song from this server: pick from the list, or paste its id or message link")
    @app_commands.autocomplete(song=song_autocomplete)
    async def show(self, interaction: discord.Interaction, song: str) -> None:
        assert interaction.guild_id is not None and interaction.channel_id is not None
        self.bot.check_can_post(interaction)
        target = await self.bot.find_song(interaction, song)
        if not (target.audio_url or target.stems_url):
            await interaction.response.send_message(
                t(interaction.locale, "That song has no audio to show."), ephemeral=True
            )
            return
        guild = interaction.guild
        if target.channel_id != interaction.channel_id and (
            guild is None or not await self.bot.visibility.everyone_can_view(guild, target.channel_id)
        ):
            raise InvalidInput(
                "That song was made in a channel not everyone can see, so it can only be shown there: {channel}.",
                channel=f"<#{target.channel_id}>",
            )
        await interaction.response.defer(ephemeral=True, thinking=True)
        message = await self.bot.delivery.repost(
            interaction.channel_id,
            interaction.guild_id,
            target,
            content=t(
                await self.bot.languages.of(interaction.guild_id),
                "Shown by {member}",
                member=f"<@{interaction.user.id}>",
            ),
            stars=await self.bot.favourites.stars(target.id),
        )
        await self.bot.repo.add_song_message(target.id, message.channel.id, message.id)
        await interaction.followup.send(t(interaction.locale, "Posted: {link}", link=message.jump_url), ephemeral=True)


async def setup(bot: MusicBot) -> None:
    """Load the song library commands."""
    await bot.add_cog(Library(bot))
