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

from bot.i18n import Locale, t, t_english
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


def markdown_link(label: str, url: str | None, locale: Locale = None) -> str:
    """`[label](url)` that no character of the URL can break; plain text when the URL is unusable."""
    usable = safe_url(url)
    if usable is None:
        return t(locale, "{label} (no usable link was given)", label=label)
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


def song_embed(song: SongRow, *, link_note: str | None = None, locale: Locale = None) -> discord.Embed:
    """The embed posted with every delivered song (or stems bundle), in the server's language."""
    if song.kind == "stems":
        return stems_embed(song, link_note=link_note, locale=locale)
    embed = discord.Embed(title=clip(escape_markdown(display_title(song)), EMBED_TITLE), colour=EMBED_COLOUR)
    if safe_url(song.audio_url):
        embed.url = song.audio_url
    if song.prompt:
        embed.description = clip(escape_markdown(song.prompt), EMBED_DESCRIPTION)
    model = clip(escape_markdown(song.model or "?"), FIELD_VALUE)
    embed.add_field(name=t(locale, "Model"), value=model, inline=True)
    embed.add_field(name=t(locale, "Duration"), value=format_duration(song.duration), inline=True)
    embed.add_field(name=t(locale, "Requested by"), value=f"<@{song.requester_id}>", inline=True)
    if song.credits:
        writers = ", ".join(f"<@{user}>" for user in song.credits)
        embed.add_field(name=t(locale, "Written by"), value=clip(writers, FIELD_VALUE), inline=False)
    if song.lyric and song.lyric.strip() != "[Instrumental]":
        embed.add_field(
            name=t(locale, "Lyrics"), value=clip(escape_markdown(lyrics_excerpt(song.lyric)), FIELD_VALUE), inline=False
        )
    embed.add_field(name=t(locale, "Song id"), value=song_id_value(song.id), inline=False)
    if link_note:
        embed.add_field(name=t(locale, "Audio"), value=clip(link_note, FIELD_VALUE), inline=False)
    if safe_url(song.image_url):
        embed.set_thumbnail(url=song.image_url)
    return fit_embed(embed)


def stems_embed(song: SongRow, *, link_note: str | None = None, locale: Locale = None) -> discord.Embed:
    """Stems come as one zip (vocals and instrumental) made from a parent song."""
    title = t(locale, "Stems: {title}", title=escape_markdown(song.title))
    embed = discord.Embed(title=clip(title, EMBED_TITLE), colour=EMBED_COLOUR)
    embed.description = t(locale, "Vocals and instrumental, separated, in one zip.")
    if song.parent_song_id:
        embed.add_field(name=t(locale, "From song"), value=song_id_value(song.parent_song_id), inline=False)
    embed.add_field(name=t(locale, "Requested by"), value=f"<@{song.requester_id}>", inline=True)
    if link_note:
        embed.add_field(name=t(locale, "Stems"), value=clip(link_note, FIELD_VALUE), inline=False)
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
    task: Task,
    *,
    jump_url: str | None = None,
    position: int | None = None,
    progress: Progress | None = None,
    locale: Locale = None,
) -> str:
    """The requester's status line for a task, whatever state it is in, in the server's language."""
    label = request_label(task)
    if task.state == "queued":
        if position:
            return t(
                locale,
                "⏳ **{song}** is queued, #{place} in this server's line. It starts when a slot frees up.",
                song=label,
                place=position,
            )
        return t(
            locale,
            "⏳ **{song}** is queued, waiting in this server's line. It starts when a slot frees up.",
            song=label,
        )
    if task.state == "cancelled":
        return t(locale, "🚫 **{song}**: cancelled. Your credit was refunded.", song=label)
    if task.state == "failed":
        reason = t_english(locale, task.error) if task.error else t(locale, "the song could not be made.")
        return t(locale, "❌ **{song}**: {reason}", song=label, reason=reason)
    if task.state == "delivered" and jump_url:
        return t(locale, "✅ **{song}** is ready: {link}", song=label, link=jump_url)
    if task.state in {"received", "delivering", "delivered"}:
        return t(locale, "📦 **{song}** is finished; posting it…", song=label)
    if task.state == "pending" and not task.api_task_id:
        return t(
            locale,
            "⏳ **{song}**: the music service has not confirmed it yet. It is posted here if it arrives; "
            "if nothing comes by its deadline, your credit is refunded.",
            song=label,
        )
    if task.api_task_id and progress is not None:
        return t(
            locale,
            "🎶 Generating **{song}**… `{bar}` {percent}% · {elapsed} elapsed (task `{task}`). "
            "The song will be posted here when it is ready.",
            song=label,
            bar=progress_bar(progress.percent),
            percent=progress.percent,
            elapsed=format_duration(progress.elapsed),
            task=task.api_task_id,
        )
    if task.api_task_id:
        return t(
            locale,
            "🎶 Generating **{song}**… (task `{task}`). The song will be posted here when it is ready.",
            song=label,
            task=task.api_task_id,
        )
    return t(locale, "⏳ Sending **{song}** to the music service…", song=label)


def plain_song_text(song: SongRow, content: str | None, locale: Locale = None) -> str:
    """A song as plain text, for when Discord refused its embed: title, id and link."""
    url = song.audio_url or song.stems_url
    lines = [
        content or "",
        f"**{clip(escape_markdown(display_title(song)), EMBED_TITLE)}**",
        f"Song id: {song_id_value(song.id)}",  # not translated: how a posted song is found again
    ]
    label = t(locale, "Download the stems") if song.stems_url else t(locale, "Download the audio")
    lines.append(markdown_link(label, url, locale))
    return clip("\n".join(line for line in lines if line), MESSAGE_CONTENT)


def status_delivered_elsewhere(task: Task, songs: list[SongRow], *, dm_url: str | None, locale: Locale = None) -> str:
    """The status line of a song that could not be posted where it was asked for."""
    label = request_label(task)
    if dm_url:
        return t(
            locale,
            "✅ **{song}** is ready. I could not post it here, so I sent it to you by DM: {link}",
            song=label,
            link=dm_url,
        )
    ids = ", ".join(f"`/show song:{song.id}`" for song in songs[:3]) or "`/songs`"
    return t(
        locale,
        "✅ **{song}** is ready, but I could not post it here or send it to you by DM. "
        "It is in this server's library: {commands}",
        song=label,
        commands=ids,
    )
