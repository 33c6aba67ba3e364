"""Audio for listening parties: ffmpeg streams a song's URL to Opus, frame by frame.

ffmpeg comes from the `imageio-ffmpeg` wheel (a static build with libopus, TLS and HTTP), so a
fresh machine needs nothing from the system; an `ffmpeg` on PATH is the fallback. ffmpeg reads
the song over HTTP(S) itself and writes Ogg/Opus to a pipe that discord.py's player thread reads
one 20 ms packet at a time: the pipe's back-pressure keeps ffmpeg at playback speed and never more
than a few kilobytes of a song are in the bot's memory. discord.py sends the Opus packets as they
are (no encoding in Python, so libopus need not be installed).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import shutil
import subprocess

import aiohttp
import discord

from bot.render import safe_url

log = logging.getLogger(__name__)

FRAME_SECONDS = 0.02
"""Every Opus packet discord.py sends carries 20 ms of audio: 50 per second."""
BITRATE_KBPS = 96
PROBE_TIMEOUT = 10.0
# Reconnect on dropped streams; give up on a stalled read after 20 s; only network inputs (no file:).
BEFORE_OPTIONS = (
    "-nostdin -reconnect 1 -reconnect_streamed 1 -reconnect_delay_max 5 -rw_timeout 20000000 "
    "-protocol_whitelist http,https,tls,tcp"
)
OPTIONS = "-vn -loglevel error"


@functools.cache
def ffmpeg_executable() -> str:
    """The ffmpeg binary shipped in the imageio-ffmpeg wheel, else one on PATH."""
    try:
        import imageio_ffmpeg

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError):
        found = shutil.which("ffmpeg")
        if found is None:
            raise RuntimeError("ffmpeg not found: install the imageio-ffmpeg package (or ffmpeg)") from None
        return found


class _FfmpegLog:
    """Where ffmpeg's error output goes: the bot's log, one line at a time, not the terminal."""

    def __init__(self, song_id: str) -> None:
        self.song_id = song_id

    def write(self, data: bytes) -> int:
        for line in data.decode(errors="replace").splitlines():
            if line.strip():
                log.warning("ffmpeg (song %s): %s", self.song_id, line.strip()[:300])
        return len(data)


class PartyAudio(discord.FFmpegOpusAudio):
    """A song streamed through ffmpeg; counts the frames handed to the player (what was heard)."""

    def __init__(self, url: str, song_id: str) -> None:
        super().__init__(
            url,
            executable=ffmpeg_executable(),
            bitrate=BITRATE_KBPS,
            before_options=BEFORE_OPTIONS,
            options=OPTIONS,
            stderr=_FfmpegLog(song_id),  # type: ignore[arg-type]  # discord.py pipes to any object with write()
        )
        self.frames = 0

    def read(self) -> bytes:
        data = super().read()
        if data:
            self.frames += 1
        return data

    def cleanup(self) -> None:
        """Kill ffmpeg (discord.py) and close its pipes, which discord.py leaves to the garbage collector."""
        process = self._process
        super().cleanup()
        if isinstance(process, subprocess.Popen):
            for pipe in (process.stdout, process.stderr):
                if pipe is not None:
                    with contextlib.suppress(OSError, ValueError):
                        pipe.close()

    @property
    def elapsed(self) -> float:
        """Seconds of this song played so far (pauses excluded)."""
        return self.frames * FRAME_SECONDS


async def audio_available(session: aiohttp.ClientSession, url: str | None) -> bool:
    """Whether the song's audio answers at all: a one-byte ranged GET, body never read.

    ffmpeg would fail on a dead URL too, but silently and after its own timeouts; asking first lets
    the party skip the song at once with a note.
    """
    usable = safe_url(url)
    if usable is None:
        return False
    try:
        timeout = aiohttp.ClientTimeout(total=PROBE_TIMEOUT)
        async with session.get(usable, headers={"Range": "bytes=0-0"}, timeout=timeout) as response:
            return response.status < 400
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.info("Audio of a song is unreachable (%s)", type(exc).__name__)
        return False


def open_audio(url: str, song_id: str) -> PartyAudio:
    """Start ffmpeg for `url` (blocking: spawns a process; call it in a worker thread)."""
    return PartyAudio(url, song_id)
