"""Listening parties in voice: /play (a song or a playlist), /queue, /stop, /radio, /loop, /seek, the
party buttons, and leaving an empty channel.

Thin: the rules (who may skip, votes, idle timeout, posting the party message) live in
`bot.voice.party` and `bot.voice.controls`, the message itself in `bot.voice.message`, the
radio's picks in `bot.playlists.radio`; loop mode and radio are kept through `bot.repo`.
`start_party` is shared with the ▶️ Play button on songs (cogs/followups.py) and `/jam play` (cogs/jam.py).
"""

from __future__ import annotations

import random
import re
from typing import TYPE_CHECKING, Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.app.commands import report_error
from bot.core.errors import InvalidInput, Phrase
from bot.i18n import N_, Locale, t, tn
from bot.songs.actions import parse_time
from bot.songs.render import EMBED_COLOUR, NO_MENTIONS, clip
from bot.storage import Jam, SongRow
from bot.voice.message import radio_name, song_title
from bot.voice.model import Party, Radio, RadioSource, Track
from cogs._common import song_autocomplete
from cogs.playlists import find_playlist, playlist_autocomplete

if TYPE_CHECKING:
    from bot.app.bot import MusicBot

JAM_CHAIN_MAX = 50
"""Songs of a jam's chain /jam play queues at most (walking back from the newest)."""


async def start_party(
    bot: MusicBot,
    interaction: discord.Interaction,
    tracks: list[Track],
    channel: discord.VoiceChannel | discord.StageChannel | None = None,
) -> None:
    """Queue `tracks` in `channel` (default: the member's voice channel) and tell the member privately."""
    guild = interaction.guild
    if guild is None or interaction.channel_id is None:
        raise InvalidInput("Listening parties happen in a server's voice channel.")
    if channel is None:
        voice = getattr(interaction.user, "voice", None)
        channel = voice.channel if voice is not None else None
    else:
        check_member_can_join(interaction.user, channel)
    if channel is None:
        raise InvalidInput("Join a voice channel first (or pick one with `channel:`), then try again.")
    if bot.parties.get(guild.id) is None:
        bot.parties.check_channel(channel)  # before deferring, so a missing permission is a plain reply
    await interaction.response.defer(ephemeral=True, thinking=True)
    _, place = await bot.parties.enqueue(channel, tracks, text_channel_id=interaction.channel_id)
    locale = interaction.locale
    if not tracks:  # /radio with nothing queued: the party starts and the radio picks
        text = t(locale, "📻 Radio on in {channel}.", channel=channel.mention)
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
        return
    first = song_title(tracks[0].song)
    more = tn(locale, " and {count} more", " and {count} more", len(tracks) - 1) if len(tracks) > 1 else ""
    if place == 0:
        text = t(locale, "▶️ Playing **{song}**{more} in {channel}.", song=first, more=more, channel=channel.mention)
    else:
        text = t(
            locale,
            "🎶 Queued **{song}**{more} in {channel}: #{place} in line.",
            song=first,
            more=more,
            channel=channel.mention,
            place=place,
        )
    await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)


def check_member_can_join(member: discord.abc.User, channel: discord.VoiceChannel | discord.StageChannel) -> None:
    """`channel:` sends the bot where the member could go themselves, not into a room closed to them
    (a staff channel, a stage they may not enter): they need View Channel and Connect there."""
    if not isinstance(member, discord.Member):
        return
    allowed = channel.permissions_for(member)
    if not (allowed.view_channel and allowed.connect):
        raise InvalidInput(
            "You cannot join {channel} yourself, so I will not play there. Pick a channel you can join.",
            channel=channel.mention,
        )


async def play_song(bot: MusicBot, interaction: discord.Interaction, song: SongRow) -> None:
    """The ▶️ Play button: the song, for the member who pressed it, in their voice channel."""
    await start_party(bot, interaction, [Track(song, interaction.user.id)])


async def jam_chain(bot: MusicBot, jam: Jam) -> list[SongRow]:
    """The jam's chain in order: its first song and every extension, from the newest back through parents."""
    if jam.latest_song_id is None:
        return []
    in_jam = {song.id for song in await bot.repo.jam_songs(jam.id)}
    chain: list[SongRow] = []
    song = await bot.repo.song(jam.latest_song_id)
    while song is not None and song.id in in_jam and len(chain) < JAM_CHAIN_MAX:
        chain.append(song)
        song = await bot.repo.song(song.parent_song_id) if song.parent_song_id else None
    chain.reverse()
    return chain


async def play_jam(
    bot: MusicBot,
    interaction: discord.Interaction,
    jam: Jam,
    channel: discord.VoiceChannel | discord.StageChannel | None,
) -> None:
    """`/jam play`: the whole chain, each song announced in the jam's thread as it starts."""
    chain = await jam_chain(bot, jam)
    if not chain:
        raise InvalidInput("This jam has no song yet. `/jam finish` turns its lines into one.")
    tracks = [
        Track(
            song,
            interaction.user.id,
            announce_channel_id=jam.channel_id,
            label=Phrase("{number} of {total} in the jam", number=n, total=len(chain)),
        )
        for n, song in enumerate(chain, 1)
    ]
    await start_party(bot, interaction, tracks, channel)


async def play_playlist(
    bot: MusicBot,
    interaction: discord.Interaction,
    reference: str,
    channel: discord.VoiceChannel | discord.StageChannel | None,
    *,
    shuffle: bool,
) -> None:
    """`/play playlist:`: its songs the member can see, in order or shuffled."""
    playlist = await find_playlist(interaction, reference)
    songs, _ = await bot.playlists.visible_songs(interaction.user, playlist)
    songs = [song for song in songs if song.audio_url]
    if not songs:
        raise InvalidInput(
            "**{playlist}** has no song you can play yet.", playlist=discord.utils.escape_markdown(playlist.name)
        )
    if shuffle:
        random.shuffle(songs)
    name = playlist.name[:40]  # the member's own words: never translated
    label: Phrase | str = Phrase("{playlist}, shuffled", playlist=name) if shuffle else name
    await start_party(bot, interaction, [Track(song, interaction.user.id, label=label) for song in songs], channel)


PARTY_BUTTONS: dict[str, tuple[str, str, discord.ButtonStyle]] = {
    "skip": (N_("Skip"), "⏭️", discord.ButtonStyle.secondary),
    "pause": (N_("Pause"), "⏸️", discord.ButtonStyle.secondary),
    "stop": (N_("Stop"), "⏹️", discord.ButtonStyle.danger),
    "lyrics": (N_("Lyrics"), "📜", discord.ButtonStyle.secondary),
}
"""Labels are catalog messages: the party message's in the server's language, /queue's in the member's."""


class PartyButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"party:(?P<action>skip|pause|stop|lyrics)"):
    """Skip, Pause/Resume, Stop and Lyrics on the party message and /queue; the server is the interaction's."""

    def __init__(self, action: str, *, paused: bool = False, locale: Locale = None) -> None:
        label, emoji, style = PARTY_BUTTONS[action]
        if action == "pause" and paused:
            label, emoji = N_("Resume"), "▶️"
        button = discord.ui.Button(label=t(locale, label), emoji=emoji, style=style, custom_id=f"party:{action}")
        super().__init__(button)
        self.action = action

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button[Any], match: re.Match[str], /
    ) -> PartyButton:
        return cls(match["action"])

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: MusicBot = interaction.client  # type: ignore[assignment]
        try:
            if self.action == "lyrics":
                await show_lyrics(bot, interaction)
                return
            await reply(interaction, await control(bot, interaction, self.action))
        except Exception as exc:  # buttons do not pass through the command tree's handler
            await report_error(interaction, exc)


def party_view(paused: bool, locale: Locale = None) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for action in PARTY_BUTTONS:
        view.add_item(PartyButton(action, paused=paused, locale=locale))
    return view


async def reply(interaction: discord.Interaction, phrase: Phrase) -> None:
    """A private answer in the member's language."""
    text = t(interaction.locale, phrase)
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
    else:
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS)


async def control(bot: MusicBot, interaction: discord.Interaction, action: str) -> Phrase:
    """Skip, pause/resume or stop for the member who asked; the reply says what happened.

    Stopping waits for the bot to leave the channel, which can take a moment: it is acknowledged first.
    """
    guild_id = interaction.guild_id or 0
    user_id = interaction.user.id
    move_members = interaction.permissions.move_members
    if action == "skip":
        return bot.parties.skip(guild_id, user_id, move_members=move_members)
    if action == "pause":
        return bot.parties.toggle_pause(guild_id, user_id, move_members=move_members)
    party = bot.parties.get(guild_id)
    if party is None and (await bot.repo.party_modes(guild_id)).radio_source is not None:
        await bot.repo.set_radio(guild_id, None)  # no party to stop, but the radio was left on for the next one
        return Phrase("📻 The radio is off.")
    if party is not None and party.may_control(user_id, move_members=move_members):
        await interaction.response.defer(ephemeral=True, thinking=True)
    text = await bot.parties.stop(guild_id, user_id, move_members=move_members)
    await bot.repo.set_radio(guild_id, None)  # /stop ends the radio too
    return text


async def show_lyrics(bot: MusicBot, interaction: discord.Interaction) -> None:
    """The Lyrics button: the lyrics of the song playing, privately."""
    party = bot.parties.get(interaction.guild_id or 0)
    track = party.current if party is not None else None
    if track is None:
        raise InvalidInput("Nothing is playing right now.")
    lyric = (track.song.lyric or "").strip()
    if not lyric:
        raise InvalidInput(
            "**{song}** has no lyrics (an instrumental, or none were kept).", song=song_title(track.song)
        )
    embed = discord.Embed(title="📜 " + clip(track.song.title or "Untitled", 200), colour=EMBED_COLOUR)
    embed.description = clip(discord.utils.escape_markdown(lyric), 4096)
    await interaction.response.send_message(embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS)


class Listening(commands.Cog):
    """Play songs together in a voice channel."""

    def __init__(self, bot: MusicBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(PartyButton)
        self.bot.parties.view_factory = party_view
        self.bot.parties.languages = self.bot.languages  # the party message speaks the server's language
        self.bot.parties.radio_picker = self.radio_track

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(PartyButton)
        self.bot.parties.view_factory = None
        self.bot.parties.radio_picker = None

    async def radio_track(self, party: Party) -> Track | None:
        """The radio's next song for a party (`bot.playlists.radio`), as a track of whoever started the radio."""
        radio = party.radio
        if radio is None:
            return None
        song = await self.bot.radio.pick(
            party.guild_id, radio.source, owner_id=radio.owner_id, member_id=radio.member_id, recent=list(party.recent)
        )
        return Track(song, radio.owner_id, label=Phrase("Radio")) if song is not None else None

    @app_commands.command(
        name="play", description="Play a song or a playlist in a voice channel; more /play calls queue after it."
    )
    @app_commands.describe(
        song="A song of this server (pick from the list, or paste its id or message link)",
        playlist="A playlist to queue whole (instead of a song)",
        shuffle="Queue the playlist in a random order",
        channel="The voice or stage channel to play in (default: the one you are in)",
    )
    @app_commands.autocomplete(song=song_autocomplete, playlist=playlist_autocomplete)
    @app_commands.guild_only()
    async def play(
        self,
        interaction: discord.Interaction,
        song: str | None = None,
        playlist: str | None = None,
        shuffle: bool = False,
        channel: discord.VoiceChannel | discord.StageChannel | None = None,
    ) -> None:
        if (song is None) == (playlist is None):
            raise InvalidInput("Pick a `song:` or a `playlist:` to play (one of them).")
        if playlist is not None:
            await play_playlist(self.bot, interaction, playlist, channel, shuffle=shuffle)
            return
        assert song is not None
        row = await self.bot.find_song(interaction, song)
        await start_party(self.bot, interaction, [Track(row, interaction.user.id)], channel)

    @app_commands.command(name="radio", description="When the queue runs out, keep playing songs of this server.")
    @app_commands.describe(
        source="Which songs: top (most starred), new, starred (a member's stars), member (a member's songs), jam",
        member="Whose songs or stars, for source member or starred (default: you)",
    )
    @app_commands.guild_only()
    async def radio(
        self,
        interaction: discord.Interaction,
        source: Literal["top", "new", "starred", "member", "jam"] = "top",
        member: discord.Member | None = None,
    ) -> None:
        guild_id = interaction.guild_id or 0
        party = self.bot.parties.get(guild_id)
        if party is not None and party.radio is not None and party.radio.owner_id != interaction.user.id:
            self.bot.parties.check_may_control(
                guild_id,
                interaction.user.id,
                move_members=interaction.permissions.move_members,
                action=Phrase("change the radio"),
            )
        chosen: RadioSource = source
        member_id = member.id if member is not None and source in ("member", "starred") else None
        radio = Radio(chosen, interaction.user.id, member_id)
        await self.bot.repo.set_radio(guild_id, chosen, owner_id=interaction.user.id, member_id=member_id)
        if party is None:
            try:
                await start_party(self.bot, interaction, [])  # the new party reads the radio from the database
            except Exception:
                await self.bot.repo.set_radio(guild_id, None)  # no party: no radio left on for a later one
                raise
            return
        self.bot.parties.set_radio(guild_id, radio)
        what = radio_name(chosen, member_id or interaction.user.id, interaction.locale)
        await reply(
            interaction, Phrase("📻 Radio on: when the queue runs out I'll play {what}, until `/stop`.", what=what)
        )

    @app_commands.command(name="loop", description="Loop the song playing, or the whole queue, or stop looping.")
    @app_commands.describe(mode="off: each song once; song: this song again and again; queue: the queue round")
    @app_commands.guild_only()
    async def loop(self, interaction: discord.Interaction, mode: Literal["off", "song", "queue"]) -> None:
        guild_id = interaction.guild_id or 0
        self.bot.parties.check_may_control(
            guild_id,
            interaction.user.id,
            move_members=interaction.permissions.move_members,
            action=Phrase("change the loop"),
        )
        await self.bot.repo.set_loop_mode(guild_id, mode)
        await reply(interaction, self.bot.parties.set_loop(guild_id, mode))

    @app_commands.command(name="seek", description="Jump to a time in the song playing.")
    @app_commands.describe(to="Where to play from, as m:ss (e.g. 1:30) or seconds")
    @app_commands.guild_only()
    async def seek(self, interaction: discord.Interaction, to: app_commands.Range[str, 1, 12]) -> None:
        seconds = parse_time("to", to)
        text = self.bot.parties.seek(
            interaction.guild_id or 0,
            interaction.user.id,
            move_members=interaction.permissions.move_members,
            to=seconds,
        )
        await reply(interaction, text)

    @app_commands.command(name="queue", description="What is playing in voice, and what comes next.")
    @app_commands.guild_only()
    async def queue(self, interaction: discord.Interaction) -> None:
        embed = self.bot.parties.queue_embed(interaction.guild_id or 0, interaction.locale)
        party = self.bot.parties.get(interaction.guild_id or 0)
        view = party_view(party.paused if party else False, interaction.locale)
        await interaction.response.send_message(embed=embed, view=view, ephemeral=True, allowed_mentions=NO_MENTIONS)

    @app_commands.command(name="stop", description="Stop the listening party and leave the voice channel.")
    @app_commands.guild_only()
    async def stop(self, interaction: discord.Interaction) -> None:
        await reply(interaction, await control(self.bot, interaction, "stop"))

    @commands.Cog.listener()
    async def on_voice_state_update(
        self, member: discord.Member, before: discord.VoiceState, after: discord.VoiceState
    ) -> None:
        await self.bot.parties.on_voice_state_update(member, before, after)


async def setup(bot: MusicBot) -> None:
    """Load the listening-party commands."""
    await bot.add_cog(Listening(bot))
