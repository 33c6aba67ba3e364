"""What members see: song embeds and status lines. Pure functions, no I/O.

Everything a member wrote (prompts, titles, lyrics) and everything the API returned is escaped
and truncated to Discord's limits here (per field, and 6000 characters per embed in total), so a
long or odd input shortens the message instead of making Discord reject it. URLs go into embeds
only when they are plain http(s) addresses Discord accepts; anything else is left out.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import discord
from discord.utils import escape_markdown

from bot.storage.repository import SongRow, Task

EMBED_TITLE = 256
EMBED_DESCRIPTION = 4096
FIELD_VALUE = 1024
EMBED_TOTAL = 6000
MESSAGE_CONTENT = 2000
URL_MAX = 2048
LYRICS_EXCERPT_LINES = 8
LYRICS_EXCERPT_CHARS = 600
EMBED_COLOUR = discord.Colour.from_rgb(130, 90, 230)

NO_MENTIONS = discord.AllowedMentions.none()

_UNSAFE_URL = re.compile(r"[\s\x00-\x1f\x7f<>\"\\^`{|}]")
"""Characters Discord refuses in an embed URL (or that would end a Markdown link early)."""


def clip(text: str, limit: int) -> str:
    """Shorten to `limit` characters, marking the cut with an ellipsis."""
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def safe_url(url: str | None) -> str | None:
    """`url` when it is an http(s) address Discord will take in an embed, else None."""
    if not url or len(url) > URL_MAX or _UNSAFE_URL.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme in {"http", "https"} and parts.netloc else None


def markdown_link(label: str, url: str | None) -> str:
    """`[label](url)` that no character of the URL can break; plain text when the URL is unusable."""
    usable = safe_url(url)
    if usable is None:
        return f"{label} (no usable link was given)"
    return f"[{label}]({quote(usable, safe=':/?#[]@!$&*+,;=%~._-')})"


def song_id_value(song_id: str) -> str:
    """How a song id is shown in the embed's "Song id" field (also how a posted song is found again)."""
    return f"`{clip(song_id.replace('`', ''), FIELD_VALUE - 2)}`"


def message_nonce(song_id: str, channel_id: int) -> str:
    """A stable nonce for "this song in this channel": Discord answers a repeat with the first message."""
    return hashlib.sha256(f"{channel_id}:{song_id}".encode()).hexdigest()[:25]


def fit_embed(embed: discord.Embed) -> discord.Embed:
    """Keep the whole embed within Discord's 6000 characters: shorten the description, then fields."""
    excess = len(embed) - EMBED_TOTAL
    if excess > 0 and embed.description:
        keep = len(embed.description) - excess - 1
        embed.description = clip(embed.description, keep) if keep > 1 else None
        excess = len(embed) - EMBED_TOTAL
    while excess > 0 and embed.fields:
        index, longest = max(enumerate(embed.fields), key=lambda pair: len(pair[1].value or ""))
        value = longest.value or ""
        keep = len(value) - excess - 1
        if len(value) <= 1:
            break
        embed.set_field_at(
            index, name=longest.name or "", value=clip(value, keep) if keep > 1 else "…", inline=bool(longest.inline)
        )
        excess = len(embed) - EMBED_TOTAL
    return embed


def format_duration(seconds: float | None) -> str:
    """`m:ss`, or `?` when the API did not say."""
    if seconds is None:
        return "?"
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


UNTITLED = "Untitled"
"""What the API calls every inspiration-mode song; such songs go by their prompt instead."""


def display_title(song: SongRow, limit: int = EMBED_TITLE) -> str:
    """A song's name as members see it, within `limit` characters (unescaped).

    A page of identical "Untitled" rows helps nobody, so a song the API left untitled is shown by its
    prompt in quotes: `“a song for Christmas”`.
    """
    prompt = " ".join(song.prompt.split())
    if song.title == UNTITLED and prompt:
        return f"“{clip(prompt, limit - 2)}”"
    return clip(song.title, limit)


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
    embed = discord.Embed(title=clip(escape_markdown(display_title(song)), EMBED_TITLE), colour=EMBED_COLOUR)
    if safe_url(song.audio_url):
        embed.url = song.audio_url
    if song.prompt:
        embed.description = clip(escape_markdown(song.prompt), EMBED_DESCRIPTION)
    embed.add_field(name="Model", value=clip(escape_markdown(song.model or "?"), FIELD_VALUE), inline=True)
    embed.add_field(name="Duration", value=format_duration(song.duration), inline=True)
    embed.add_field(name="Requested by", value=f"<@{song.requester_id}>", inline=True)
    if song.credits:
        writers = ", ".join(f"<@{user}>" for user in song.credits)
        embed.add_field(name="Written by", value=clip(writers, FIELD_VALUE), inline=False)
    if song.lyric and song.lyric.strip() != "[Instrumental]":
        embed.add_field(
            name="Lyrics", value=clip(escape_markdown(lyrics_excerpt(song.lyric)), FIELD_VALUE), inline=False
        )
    embed.add_field(name="Song id", value=song_id_value(song.id), inline=False)
    if link_note:
        embed.add_field(name="Audio", value=clip(link_note, FIELD_VALUE), inline=False)
    if safe_url(song.image_url):
        embed.set_thumbnail(url=song.image_url)
    return fit_embed(embed)


def stems_embed(song: SongRow, *, link_note: str | None = None) -> discord.Embed:
    """Stems come as one zip (vocals and instrumental) made from a parent song."""
    embed = discord.Embed(title=clip(f"Stems: {escape_markdown(song.title)}", EMBED_TITLE), colour=EMBED_COLOUR)
    embed.description = "Vocals and instrumental, separated, in one zip."
    if song.parent_song_id:
        embed.add_field(name="From song", value=song_id_value(song.parent_song_id), inline=False)
    embed.add_field(name="Requested by", value=f"<@{song.requester_id}>", inline=True)
    if link_note:
        embed.add_field(name="Stems", value=clip(link_note, FIELD_VALUE), inline=False)
    return fit_embed(embed)


def request_label(task: Task) -> str:
    """A short human label for a task: its title, else its prompt, else the action."""
    request = task.request
    label = request.get("title") or request.get("prompt") or task.action
    return clip(escape_markdown(str(label)), 80)


PROGRESS_BAR_CELLS = 10


@dataclass(frozen=True, slots=True)
class Progress:
    """What the API last said about a generating song: a percentage, and how long it has run."""

    percent: int
    elapsed: float


def progress_bar(percent: int) -> str:
    """`███░░░░░░░` for 30 %: ten cells, a cell filled for each whole tenth."""
    filled = min(PROGRESS_BAR_CELLS, max(0, percent // (100 // PROGRESS_BAR_CELLS)))
    return "█" * filled + "░" * (PROGRESS_BAR_CELLS - filled)


def status_text(
    task: Task, *, jump_url: str | None = None, position: int | None = None, progress: Progress | None = None
) -> str:
    """The requester's status line for a task, whatever state it is in."""
    label = request_label(task)
    if task.state == "queued":
        place = f"#{position}" if position else "waiting"
        return f"⏳ **{label}** is queued, {place} in this server's line. It starts when a slot frees up."
    if task.state == "cancelled":
        return f"🚫 **{label}**: cancelled. Your credit was refunded."
    if task.state == "failed":
        return f"❌ **{label}**: {task.error or 'the song could not be made.'}"
    if task.state == "delivered" and jump_url:
        return f"✅ **{label}** is ready: {jump_url}"
    if task.state in {"received", "delivering", "delivered"}:
        return f"📦 **{label}** is finished; posting it…"
    if task.state == "pending" and not task.api_task_id:
        return (
            f"⏳ **{label}**: the music service has not confirmed it yet. It is posted here if it arrives; "
            "if nothing comes by its deadline, your credit is refunded."
        )
    if task.api_task_id and progress is not None:
        return (
            f"🎶 Generating **{label}**… `{progress_bar(progress.percent)}` {progress.percent}% · "
            f"{format_duration(progress.elapsed)} elapsed (task `{task.api_task_id}`). "
            "The song will be posted here when it is ready."
        )
    if task.api_task_id:
        return f"🎶 Generating **{label}**… (task `{task.api_task_id}`). The song will be posted here when it is ready."
    return f"⏳ Sending **{label}** to the music service…"


def plain_song_text(song: SongRow, content: str | None) -> str:
    """A song as plain text, for when Discord refused its embed: title, id and link."""
    url = song.audio_url or song.stems_url
    lines = [
        content or "",
        f"**{clip(escape_markdown(display_title(song)), EMBED_TITLE)}**",
        f"Song id: {song_id_value(song.id)}",
    ]
    lines.append(markdown_link(f"Download the {'stems' if song.stems_url else 'audio'}", url))
    return clip("\n".join(line for line in lines if line), MESSAGE_CONTENT)


def status_delivered_elsewhere(task: Task, songs: list[SongRow], *, dm_url: str | None) -> str:
    """The status line of a song that could not be posted where it was asked for."""
    label = request_label(task)
    if dm_url:
        return f"✅ **{label}** is ready. I could not post it here, so I sent it to you by DM: {dm_url}"
    ids = ", ".join(f"`/show song:{song.id}`" for song in songs[:3]) or "`/songs`"
    return (
        f"✅ **{label}** is ready, but I could not post it here or send it to you by DM. "
        f"It is in this server's library: {ids}"
    )
