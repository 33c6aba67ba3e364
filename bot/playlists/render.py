"""How playlists read on Discord: the paged list with its total length, and the `.m3u8` export.

Pure presentation (no Discord calls). Titles are members' words: escaped for markdown here, and the
messages that carry them are sent without mentions.
"""

from __future__ import annotations

import discord

from bot.i18n import Locale, t, tn
from bot.songs.render import EMBED_COLOUR, clip, format_duration
from bot.storage import Playlist, SongRow

PAGE_SIZE = 15
"""Songs per page of `/playlist show`."""


def title_of(song: SongRow) -> str:
    return discord.utils.escape_markdown(clip(song.title or "Untitled", 80))


def total_length(songs: list[SongRow], locale: Locale = None) -> str:
    """`h:mm:ss` (or `m:ss`) of the songs' known lengths, with a note when some are unknown."""
    seconds = round(sum(song.duration or 0 for song in songs))
    hours, rest = divmod(seconds, 3600)
    text = f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else format_duration(rest)
    unknown = sum(1 for song in songs if song.duration is None)
    return t(locale, "{length} (+{count} of unknown length)", length=text, count=unknown) if unknown else text


def page_count(songs: list[SongRow]) -> int:
    return max(1, -(-len(songs) // PAGE_SIZE))


def playlist_embed(
    playlist: Playlist, songs: list[SongRow], page: int, *, hidden: int = 0, locale: Locale = None
) -> discord.Embed:
    """One page of a playlist: its songs in order (numbered as in /playlist move), the total length."""
    pages = page_count(songs)
    page = max(1, min(page, pages))
    embed = discord.Embed(title="🎼 " + clip(playlist.name, 200), colour=EMBED_COLOUR)
    start = (page - 1) * PAGE_SIZE
    lines = [
        f"{n}. **{title_of(song)}** · {format_duration(song.duration)} · <@{song.requester_id}>"
        for n, song in enumerate(songs[start : start + PAGE_SIZE], start + 1)
    ]
    count = tn(locale, "{count} song", "{count} songs", len(songs))
    length = t(locale, "total length {length}", length=total_length(songs, locale))
    if playlist.shared:
        kind = t(locale, "A shared playlist (anyone may edit it)")
    else:
        kind = t(locale, "A playlist of {member}", member=f"<@{playlist.owner_id}>")
    header = f"{kind} · {count} · {length}"
    empty = t(locale, "No songs yet: add them with `/playlist add` or a song's ➕ Add to playlist.")
    body = "\n".join(lines) if lines else empty
    embed.description = clip(f"{header}\n\n{body}", 4096)
    footer = t(locale, "Page {page} of {pages}", page=page, pages=pages)
    if hidden:
        more = tn(
            locale,
            "{count} more song from channels you cannot see",
            "{count} more songs from channels you cannot see",
            hidden,
        )
        footer += f" · {more}"
    embed.set_footer(text=footer)
    return embed


def m3u8(playlist: Playlist, songs: list[SongRow]) -> str:
    """An extended M3U playlist (UTF-8): each song's length, title and audio link, in order."""
    lines = ["#EXTM3U", f"#PLAYLIST:{_one_line(playlist.name)}"]
    for song in songs:
        if not song.audio_url:
            continue
        length = round(song.duration) if song.duration is not None else -1
        lines += [f"#EXTINF:{length},{_one_line(song.title or 'Untitled')}", song.audio_url]
    return "\n".join(lines) + "\n"


def _one_line(text: str) -> str:
    """A title on one line (a newline in it would start a new entry)."""
    return " ".join(text.split())


def export_filename(playlist: Playlist) -> str:
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in playlist.name).strip("-")[:60] or "playlist"
    return f"{safe}.m3u8"


__all__ = ["PAGE_SIZE", "export_filename", "m3u8", "page_count", "playlist_embed", "title_of", "total_length"]
