"""What members see: song embeds and status lines. Pure functions, no I/O.

Everything a member wrote (prompts, titles, lyrics) is truncated to Discord's embed limits here,
so a long or odd input shortens the message instead of making Discord reject it.
"""

from __future__ import annotations

import discord
from discord.utils import escape_markdown

from bot.storage.repository import SongRow, Task

EMBED_TITLE = 256
EMBED_DESCRIPTION = 4096
FIELD_VALUE = 1024
LYRICS_EXCERPT_LINES = 8
LYRICS_EXCERPT_CHARS = 600
EMBED_COLOUR = discord.Colour.from_rgb(130, 90, 230)

NO_MENTIONS = discord.AllowedMentions.none()


def clip(text: str, limit: int) -> str:
    """Shorten to `limit` characters, marking the cut with an ellipsis."""
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def format_duration(seconds: float | None) -> str:
    """`m:ss`, or `?` when the API did not say."""
    if seconds is None:
        return "?"
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def lyrics_excerpt(lyric: str) -> str:
    lines = [line for line in lyric.splitlines() if line.strip()]
    excerpt = "\n".join(lines[:LYRICS_EXCERPT_LINES])
    if len(lines) > LYRICS_EXCERPT_LINES:
        excerpt += "\n…"
    return clip(excerpt, LYRICS_EXCERPT_CHARS)


def song_embed(song: SongRow, *, link_note: str | None = None) -> discord.Embed:
    """The embed posted with every delivered song (or stems bundle)."""
    if song.kind == "stems":
        return stems_embed(song, link_note=link_note)
    embed = discord.Embed(title=clip(song.title, EMBED_TITLE), colour=EMBED_COLOUR)
    if song.audio_url and song.audio_url.startswith(("http://", "https://")):
        embed.url = song.audio_url
    if song.prompt:
        embed.description = clip(escape_markdown(song.prompt), EMBED_DESCRIPTION)
    embed.add_field(name="Model", value=song.model or "?", inline=True)
    embed.add_field(name="Duration", value=format_duration(song.duration), inline=True)
    embed.add_field(name="Requested by", value=f"<@{song.requester_id}>", inline=True)
    if song.lyric and song.lyric.strip() != "[Instrumental]":
        embed.add_field(
            name="Lyrics", value=clip(escape_markdown(lyrics_excerpt(song.lyric)), FIELD_VALUE), inline=False
        )
    embed.add_field(name="Song id", value=f"`{song.id}`", inline=False)
    if link_note:
        embed.add_field(name="Audio", value=clip(link_note, FIELD_VALUE), inline=False)
    if song.image_url and song.image_url.startswith(("http://", "https://")):
        embed.set_thumbnail(url=song.image_url)
    return embed


def stems_embed(song: SongRow, *, link_note: str | None = None) -> discord.Embed:
    """Stems come as one zip (vocals and instrumental) made from a parent song."""
    embed = discord.Embed(title=clip(f"Stems: {song.title}", EMBED_TITLE), colour=EMBED_COLOUR)
    embed.description = "Vocals and instrumental, separated, in one zip."
    if song.parent_song_id:
        embed.add_field(name="From song", value=f"`{song.parent_song_id}`", inline=False)
    embed.add_field(name="Requested by", value=f"<@{song.requester_id}>", inline=True)
    if link_note:
        embed.add_field(name="Stems", value=clip(link_note, FIELD_VALUE), inline=False)
    return embed


def request_label(task: Task) -> str:
    """A short human label for a task: its title, else its prompt, else the action."""
    request = task.request
    label = request.get("title") or request.get("prompt") or task.action
    return clip(escape_markdown(str(label)), 80)


def status_text(task: Task, songs: list[SongRow] | None = None, *, jump_url: str | None = None) -> str:
    """The requester's status line for a task, whatever state it is in."""
    label = request_label(task)
    if task.state == "failed":
        return f"❌ **{label}**: {task.error or 'the song could not be made.'}"
    if task.state == "delivered" and jump_url:
        return f"✅ **{label}** is ready: {jump_url}"
    if task.state in {"received", "delivering", "delivered"}:
        return f"📦 **{label}** is finished; posting it…"
    if task.api_task_id:
        return f"🎶 Generating **{label}**… (task `{task.api_task_id}`). The song will be posted here when it is ready."
    return f"⏳ Sending **{label}** to the music service…"
