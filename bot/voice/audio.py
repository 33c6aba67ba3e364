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
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time

import aiohttp
import discord

from bot.producer import media

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
# Ogg pages of 200 ms instead of ffmpeg's 1 s, so audio is ready in small steps (the first one sooner).
OPTIONS = "-vn -loglevel error -page_duration 200000"
READ_AHEAD_PACKETS = 250
"""Opus packets (5 s) read ahead of the player, so a moment when ffmpeg gets no CPU is not heard."""
PRIME_PACKETS = 25
"""Packets (0.5 s) ready before playback starts: ffmpeg's start-up (probing, first page) is not a gap."""
PRIME_TIMEOUT = 15.0
FFMPEG_NICE_INCREMENT = 10
"""How much lower than the bot ffmpeg runs, in nice levels: at +10, competing for a core, it gets about a ninth
of a bot thread's share (CFS weights 110 against 1024)."""
_END = b""
_HEADERS = (b"OpusHead", b"OpusTags")


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


def _lower_priority(process: object) -> None:
    """Run ffmpeg at a lower CPU priority than the bot's player threads.

    ffmpeg works seconds ahead of playback (the read-ahead below), so it can wait for a core; the
    player thread must send a packet every 20 ms. When many parties start at once, twenty ffmpeg
    processes encoding their first seconds flat out would otherwise delay the players by 100 ms and
    more (a stutter). Lowering a child's own priority needs no privilege; where it fails, it is skipped.
    """
    pid = getattr(process, "pid", None)
    if pid is None:
        return
    with contextlib.suppress(OSError, AttributeError):
        current = os.getpriority(os.PRIO_PROCESS, 0)  # this thread's nice value, which ffmpeg inherited
        os.setpriority(os.PRIO_PROCESS, pid, min(19, current + FFMPEG_NICE_INCREMENT))


class PartyAudio(discord.FFmpegOpusAudio):
    """A song streamed through ffmpeg, read ahead on its own thread; counts the frames handed to the player.

    discord.py's player thread would otherwise read ffmpeg's pipe itself, page by page, and wait
    whenever ffmpeg is behind (at start-up above all, when many parties start at once). A reader
    thread keeps up to `READ_AHEAD_PACKETS` ready instead, and leaves out the Ogg header packets
    (OpusHead, OpusTags), which are not audio and which discord.py would send as if they were.
    """

    def __init__(self, url: str, song_id: str) -> None:
        errors = tempfile.TemporaryFile()  # noqa: SIM115 - closed in cleanup(), when ffmpeg has exited
        super().__init__(
            url,
            executable=ffmpeg_executable(),
            bitrate=BITRATE_KBPS,
            before_options=BEFORE_OPTIONS,
            options=OPTIONS,
            stderr=errors,  # a real file: discord.py's stderr pipe thread spins once ffmpeg has exited
        )
        self._errors = errors
        _lower_priority(self._process)
        self.song_id = song_id
        self.frames = 0
        self._ended = False
        self._ahead: queue.Queue[bytes] = queue.Queue(maxsize=READ_AHEAD_PACKETS)
        self._stop_reading = threading.Event()
        self._reader_done = threading.Event()
        self._reader = threading.Thread(target=self._read_ahead, name=f"party-audio-{song_id[:8]}", daemon=True)
        self._reader.start()

    def _read_ahead(self) -> None:
        try:
            for packet in self._packet_iter:
                if packet.startswith(_HEADERS):
                    continue
                while not self._stop_reading.is_set():
                    try:
                        self._ahead.put(packet, timeout=0.5)
                        break
                    except queue.Full:
                        continue
                if self._stop_reading.is_set():
                    return
        except Exception as exc:  # a broken stream ends the song like its end would
            log.info("Audio stream ended early (%s)", type(exc).__name__)
        finally:
            self._reader_done.set()  # read() ends the song once the buffer is drained

    def prime(self) -> None:
        """Wait (in a worker thread) until half a second is ready, the song ended, or ffmpeg gave up."""
        deadline = time.monotonic() + PRIME_TIMEOUT
        while self._ahead.qsize() < PRIME_PACKETS and not self._reader_done.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)

    def read(self) -> bytes:
        if self._ended:
            return _END
        deadline = time.monotonic() + PRIME_TIMEOUT  # ffmpeg silent that long: the stream is dead
        while True:
            try:
                data = self._ahead.get(timeout=0.05)
                break
            except queue.Empty:
                if self._reader_done.is_set() or time.monotonic() > deadline:
                    data = _END
                    break
        if data:
            self.frames += 1
        else:
            self._ended = True
        return data

    def cleanup(self) -> None:
        """Kill ffmpeg (discord.py) and close its pipes, which discord.py leaves to the garbage collector."""
        process = self._process
        self._stop_reading.set()
        super().cleanup()
        if isinstance(process, subprocess.Popen) and process.stdout is not None:
            with contextlib.suppress(OSError, ValueError):
                process.stdout.close()
        with contextlib.suppress(OSError, ValueError):
            self._errors.seek(0)
            for line in self._errors.read(4000).decode(errors="replace").splitlines()[:5]:
                if line.strip():
                    log.warning("ffmpeg (song %s): %s", self.song_id, line.strip()[:300])
            self._errors.close()

    @property
    def elapsed(self) -> float:
        """Seconds of this song played so far (pauses excluded)."""
        return self.frames * FRAME_SECONDS


async def playable_address(session: aiohttp.ClientSession, url: str | None, *, allow_private: bool) -> str | None:
    """The address ffmpeg should read the song from, or None when the audio cannot be had.

    The same rules as downloads (`bot.producer.media`): http(s) only, public addresses only, each redirect
    checked. ffmpeg would fail on a dead URL too, but silently and after its own timeouts; asking
    first lets the party skip the song at once with a note.
    """
    if not url:
        return None
    found = await media.final_address(session, url, allow_private=allow_private, timeout_seconds=PROBE_TIMEOUT)
    if isinstance(found, media.Skipped):
        log.info("Audio of a song cannot be played: %s", found.reason)
        return None
    return found


def open_audio(url: str, song_id: str) -> PartyAudio:
    """Start ffmpeg for `url` and wait for its first half second (blocking: call it in a worker thread)."""
    audio = PartyAudio(url, song_id)
    audio.prime()
    return audio
