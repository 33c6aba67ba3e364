"""The WAV and Video buttons on a song (dispatched from `cogs.followups`).

* **WAV** goes privately to the member who pressed (lossless files are large; the channel stays
  clean): attached when it fits this interaction's upload limit, else a link.
* **Video** is posted in the channel as a reply to the song (attached when it fits the server's
  upload limit, else linked); the member who pressed gets a private line pointing at it.

Both come from `ExportService`, which asks the API once per song and remembers the answer.
Not an extension itself (it has no `setup`).

Like the song buttons that post, they work only where the member may post, and each member may
press each once per `EXPORT_COOLDOWN` (a pointer to a video already posted is free). Their downloads
take the same media slots as song deliveries, so a crowd pressing WAV cannot hold more transfers in
memory at once than `MEDIA_SLOTS`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord.utils import escape_markdown

from bot.core.errors import Phrase
from bot.i18n import Locale, t, t_english
from bot.producer import media
from bot.songs import render
from bot.songs.delivery import DEFAULT_UPLOAD_LIMIT, is_too_large
from bot.songs.status import jump_url
from bot.storage.repository import SongRow
from cogs._common import MemberCooldown

if TYPE_CHECKING:
    from bot.app.bot import MusicBot

log = logging.getLogger(__name__)

DOWNLOAD_SECONDS = 120.0
EXPORT_COOLDOWN = 30.0
"""Seconds before a member may press WAV again (and Video): each press downloads and uploads the file."""
COOLDOWNS = {"wav": MemberCooldown(EXPORT_COOLDOWN), "video": MemberCooldown(EXPORT_COOLDOWN)}


async def _fetch(bot: MusicBot, url: str, filename: str, limit: int) -> media.Download | media.Skipped:
    return await media.download(
        bot.media_session,
        url,
        filename=filename,
        max_bytes=limit,
        total_seconds=DOWNLOAD_SECONDS,
        allow_private=bot.settings.allow_private_media_hosts,
    )


def _link_note(kind: str, url: str, reason: str | None, locale: Locale) -> str:
    """The download link, with why the file is not attached (a reason in English, from `media`)."""
    label = t(locale, "Download the WAV") if kind == "WAV" else t(locale, "Download the video")
    link = render.markdown_link(label, url, locale)
    if not reason:
        return link
    return t(locale, "{link} (not attached: {reason})", link=link, reason=escape_markdown(t_english(locale, reason)))


async def send_wav(bot: MusicBot, interaction: discord.Interaction, song: SongRow) -> None:
    """The song's WAV, privately: attached when it fits, else linked. Asked of the API once per song."""
    bot.check_can_post(interaction)
    COOLDOWNS["wav"].check(interaction)
    await interaction.response.defer(ephemeral=True, thinking=True)
    async with bot.exports.one_at_a_time(song.id, "wav"):
        copy = await bot.exports.wav(song)
    assert copy.url is not None
    locale = interaction.locale  # a private reply: the member's language
    title = t(locale, "💿 **{song}** as lossless WAV", song=render.clip(escape_markdown(song.title), 200))
    limit = interaction.filesize_limit or DEFAULT_UPLOAD_LIMIT
    async with bot.delivery.media_slots:  # shared with deliveries: MEDIA_SLOTS files at once in all
        fetched = await _fetch(bot, copy.url, media.safe_filename(song.title, "wav"), limit)
        reason = fetched.reason if isinstance(fetched, media.Skipped) else None
        if isinstance(fetched, media.Download):
            try:
                await interaction.followup.send(
                    title,
                    file=discord.File(fetched.file, filename=fetched.filename),
                    ephemeral=True,
                    allowed_mentions=render.NO_MENTIONS,
                )
                return
            except discord.HTTPException as exc:
                if not is_too_large(exc):
                    raise
                reason = str(Phrase("Discord refused the file as too large"))
            finally:
                fetched.close()
    await interaction.followup.send(
        f"{title}: {_link_note('WAV', copy.url, reason, locale)}", ephemeral=True, allowed_mentions=render.NO_MENTIONS
    )


async def post_video(bot: MusicBot, interaction: discord.Interaction, song: SongRow) -> None:
    """The song's video in the channel, as a reply to the song; once per song (then a pointer to it)."""
    bot.check_can_post(interaction)
    known = await bot.exports.remembered(song.id, "video")
    if known is None or known.message_id is None:  # a pointer costs nothing; a post is a transfer
        COOLDOWNS["video"].check(interaction)
    await interaction.response.defer(ephemeral=True, thinking=True)
    async with bot.exports.one_at_a_time(song.id, "video"):
        copy = await bot.exports.video(song)
        if copy.message_id is not None and copy.channel_id is not None:
            where = jump_url(interaction.guild_id, copy.channel_id, copy.message_id)
            await interaction.followup.send(
                t(interaction.locale, "🎬 The video of this song is already here: {link}", link=where),
                ephemeral=True,
                allowed_mentions=render.NO_MENTIONS,
            )
            return
        assert copy.url is not None and interaction.channel_id is not None
        try:
            message = await _post_video_message(bot, interaction, song, copy.url)
        except (discord.Forbidden, discord.NotFound) as exc:
            log.info("Cannot post the video of %s in %d (%s)", song.id, interaction.channel_id, exc.code)
            await interaction.followup.send(
                t(
                    interaction.locale,
                    "🎬 I cannot post in this channel, so here is the video just for you: {link}",
                    link=_link_note("video", copy.url, None, interaction.locale),
                ),
                ephemeral=True,
                allowed_mentions=render.NO_MENTIONS,
            )
            return
        await bot.exports.video_posted(song.id, message.channel.id, message.id)
    await interaction.followup.send(
        t(interaction.locale, "🎬 Posted the video: {link}", link=message.jump_url),
        ephemeral=True,
        allowed_mentions=render.NO_MENTIONS,
    )


async def _post_video_message(
    bot: MusicBot, interaction: discord.Interaction, song: SongRow, url: str
) -> discord.Message:
    assert interaction.channel_id is not None
    guild = interaction.guild or (bot.get_guild(interaction.guild_id) if interaction.guild_id else None)
    limit = guild.filesize_limit if guild is not None else DEFAULT_UPLOAD_LIMIT
    channel = bot.get_partial_messageable(interaction.channel_id, guild_id=interaction.guild_id)
    extra: dict[str, discord.MessageReference] = {}
    if interaction.message is not None:
        extra["reference"] = discord.MessageReference(
            message_id=interaction.message.id, channel_id=interaction.channel_id, fail_if_not_exists=False
        )
    locale = await bot.languages.of(interaction.guild_id)  # posted in the channel: the server's language
    text = t(
        locale,
        "🎬 **{song}**: the video, for {member}",
        song=render.clip(escape_markdown(song.title), 200),
        member=f"<@{interaction.user.id}>",
    )
    async with bot.delivery.media_slots:  # shared with deliveries: MEDIA_SLOTS files at once in all
        fetched = await _fetch(bot, url, media.safe_filename(song.title, "mp4"), limit)
        reason = fetched.reason if isinstance(fetched, media.Skipped) else None
        if isinstance(fetched, media.Download):
            try:
                return await channel.send(
                    text,
                    file=discord.File(fetched.file, filename=fetched.filename),
                    allowed_mentions=render.NO_MENTIONS,
                    **extra,
                )
            except discord.HTTPException as exc:
                if not is_too_large(exc):
                    raise
                reason = str(Phrase("Discord refused the file as too large"))
            finally:
                fetched.close()
    return await channel.send(
        f"{text}: {_link_note('video', url, reason, locale)}", allowed_mentions=render.NO_MENTIONS, **extra
    )
