"""Audio for listening parties: the bot downloads a song and ffmpeg turns it into Opus, frame by frame.

ffmpeg comes from the `imageio-ffmpeg` wheel (a static build with libopus), so a fresh machine
needs nothing from the system; an `ffmpeg` on PATH is the fallback. ffmpeg never sees an address:
the bot fetches the song through its media session (`media.open_stream`: public addresses only,
each redirect checked, a dropped connection resumed with a byte range) and writes it to ffmpeg's
stdin, and ffmpeg may open nothing but that pipe. ffmpeg writes Ogg/Opus to another pipe that a
reader thread keeps a few seconds ahead of discord.py's player thread, which sends one 20 ms
packet at a time. Back-pressure runs the whole way (player, read-ahead, ffmpeg, stdin, the
download), so ffmpeg and the download stay a few seconds ahead of playback and never more than a
few chunks of a song are in the bot's memory. discord.py sends the Opus packets as they are (no
encoding in Python, so libopus need not be installed).

Every song is brought to the same loudness on the way (EBU R128, `LOUDNESS_TARGET_LUFS`): AI songs
differ by 20 dB and more, and a listening party should not make members reach for the volume.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import os
import queue
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, cast

import aiohttp
import discord
from discord.oggparse import OggStream

from bot.producer import media
from bot.storage import Repository

log = logging.getLogger(__name__)

FRAME_SECONDS = 0.02
"""Every Opus packet discord.py sends carries 20 ms of audio: 50 per second."""
BITRATE_KBPS = 96
LOUDNESS_TARGET_LUFS = -14.0
"""Integrated loudness every song is brought to (EBU R128), the level most streaming services play at."""
TRUE_PEAK_LIMIT = -1.5
"""dBTP no song goes above after normalisation."""
LOUDNESS_FILTER = f"loudnorm=I={LOUDNESS_TARGET_LUFS:g}:TP={TRUE_PEAK_LIMIT:g}:LRA=11:print_format=json"
"""ffmpeg's EBU R128 normaliser in its single-pass (dynamic) mode, for a song's first play: it measures
as it plays, over a 3 s window, so the song needs no prior pass (within 0.1 LU of the target on songs
20 dB apart), and prints what it measured of the whole song at the end. It works at 192 kHz, which
costs about 65 MB and twice the CPU of the plain chain, so later plays use `Loudness.gain_filter`."""
GAIN_MAX_DB = 30.0
"""The most a measured song is turned up: a near-silent one is not made into loud noise."""
_MEASURED = re.compile(r'"input_(i|tp)"\s*:\s*"(-?[0-9.]+)"')


@dataclass(frozen=True, slots=True)
class Loudness:
    """A song's measured loudness: integrated (LUFS) and true peak (dBTP), over the whole song."""

    integrated: float
    true_peak: float

    def gain_filter(self) -> str:
        """A plain gain to the target (the second pass of two-pass normalisation), with a limiter only
        when the gain would lift the song's peaks above `TRUE_PEAK_LIMIT`: at 48 kHz, a fraction of
        what the single-pass normaliser costs."""
        gain = min(LOUDNESS_TARGET_LUFS - self.integrated, GAIN_MAX_DB)
        chain = f"volume={gain:.2f}dB"
        if self.true_peak + gain > TRUE_PEAK_LIMIT:
            chain += f",alimiter=limit={10 ** (TRUE_PEAK_LIMIT / 20):.4f}:level=false:latency=true"
        return chain

    @classmethod
    def parse(cls, ffmpeg_output: str) -> Loudness | None:
        """What `LOUDNESS_FILTER` printed at the end of a song, if it got there (not when stopped)."""
        found = dict(_MEASURED.findall(ffmpeg_output))
        if "i" not in found or "tp" not in found:
            return None
        measured = cls(float(found["i"]), float(found["tp"]))
        return measured if math.isfinite(measured.integrated) and measured.integrated > -70 else None


def ffmpeg_arguments(
    *, start: float = 0.0, normalise: bool = True, measured: Loudness | None = None
) -> tuple[str, ...]:
    """ffmpeg's command line after the executable: from stdin to Ogg/Opus on stdout.

    `start` skips into the song (a seek): as an output option ffmpeg decodes and drops what comes
    before it, which is exact to the sample on a pipe that cannot seek. `normalise` adds the
    loudness filter (on by default; the voice benchmark compares against the chain without it):
    a gain from the song's `measured` loudness, else the single-pass normaliser. ffmpeg logs at
    info level with each line's level, so the normaliser's measurement can be read (`Loudness.parse`)
    and only its errors are logged by the bot.
    """
    loudness = (measured.gain_filter() if measured is not None else LOUDNESS_FILTER) if normalise else None
    return (
        *("-hide_banner", "-nostats", "-loglevel", "level+info"),
        *("-protocol_whitelist", "pipe"),  # the bytes the bot hands it, and nothing it would open itself
        *("-i", "pipe:0", "-map_metadata", "-1", "-vn"),
        *(("-ss", f"{start:.3f}") if start > 0 else ()),
        *(("-af", loudness) if loudness else ()),
        *("-f", "opus", "-c:a", "libopus", "-ar", "48000", "-ac", "2", "-b:a", f"{BITRATE_KBPS}k"),
        *("-fec", "true", "-packet_loss", "15"),
        # Ogg pages of 200 ms instead of ffmpeg's 1 s, so audio is ready in small steps (the first one sooner).
        *("-page_duration", "200000", "-blocksize", "8192", "pipe:1"),
    )


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


class _PipeWriter(asyncio.Protocol):
    """ffmpeg's stdin on the event loop: a write waits while the pipe is full (ffmpeg is ahead of playback)."""

    def __init__(self) -> None:
        self._transport: asyncio.WriteTransport | None = None
        self._writable = asyncio.Event()
        self._writable.set()
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.WriteTransport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._writable.set()

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    async def write(self, data: bytes) -> bool:
        """Hand `data` to ffmpeg; False once ffmpeg has stopped reading (the song ended or was stopped)."""
        if self.closed or self._transport is None or self._transport.is_closing():
            return False
        self._transport.write(data)
        await self._writable.wait()
        return not self.closed


class PartyAudio(discord.AudioSource):
    """A song: ffmpeg fed from the bot's own download, read ahead on its own thread; counts the frames played.

    Three workers, each ended by `cleanup` (discord.py's player calls it when the song ends or is
    stopped; a party stopped before the song plays calls it itself): ffmpeg; a task on the event
    loop that writes the download to ffmpeg's stdin; a reader thread that keeps up to
    `READ_AHEAD_PACKETS` ready for the player (discord.py's player thread would otherwise read
    ffmpeg's pipe itself and wait whenever ffmpeg is behind, at start-up above all) and leaves out
    the Ogg header packets (OpusHead, OpusTags), which are not audio and which discord.py would
    send as if they were. Create it on the event loop.
    """

    def __init__(
        self,
        stream: media.MediaStream,
        song_id: str,
        *,
        start: float = 0.0,
        normalise: bool = True,
        measured: Loudness | None = None,
        on_measured: Callable[[Loudness], None] | None = None,
    ) -> None:
        self.song_id = song_id
        self.start = start
        self.on_measured = on_measured  # called on the event loop with what the normaliser measured
        self.frames = 0
        self._ended = False
        self._cleaned = False
        self._cleanup_lock = threading.Lock()
        self._loop = asyncio.get_running_loop()
        self._primed = asyncio.Event()
        self._primed_told = False
        self._ahead: queue.Queue[bytes] = queue.Queue(maxsize=READ_AHEAD_PACKETS)
        self._stop_reading = threading.Event()
        self._reader_done = threading.Event()
        self._errors = tempfile.TemporaryFile()  # noqa: SIM115 - closed in cleanup(), when ffmpeg has exited
        try:
            self._process = subprocess.Popen(  # noqa: S603 - a fixed command; the song arrives on stdin
                [ffmpeg_executable(), *ffmpeg_arguments(start=start, normalise=normalise, measured=measured)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._errors,  # a real file: nothing to copy while the song plays
            )
        except (OSError, subprocess.SubprocessError) as exc:
            self._errors.close()
            self._cleaned = True
            raise RuntimeError(f"ffmpeg could not be started ({type(exc).__name__})") from exc
        _lower_priority(self._process)
        self._reader = threading.Thread(target=self._read_ahead, name=f"party-audio-{song_id[:8]}", daemon=True)
        self._reader.start()
        self._feeder = self._loop.create_task(self._feed(stream), name=f"party-feed-{song_id[:8]}")

    @property
    def pid(self) -> int:
        """ffmpeg's process id."""
        return self._process.pid

    async def _feed(self, stream: media.MediaStream) -> None:
        """Write the download to ffmpeg's stdin, then close it: ffmpeg finishes the song at end of file."""
        stdin = cast(IO[bytes], self._process.stdin)
        transport: asyncio.WriteTransport | None = None
        try:
            transport, pipe = await self._loop.connect_write_pipe(_PipeWriter, stdin)
            async with contextlib.aclosing(stream.chunks()) as chunks:
                async for chunk in chunks:
                    if not await pipe.write(chunk):
                        return
        except Exception as exc:  # a pipe or a loop gone with ffmpeg or the bot: the song ends, nothing else
            log.info("Feeding ffmpeg ended early for song %s (%s)", self.song_id, type(exc).__name__)
        finally:
            stream.close()
            if transport is not None:
                transport.close()
            else:
                with contextlib.suppress(OSError):
                    stdin.close()

    def _read_ahead(self) -> None:
        try:
            for packet in OggStream(cast(IO[bytes], self._process.stdout)).iter_packets():
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
                if self._ahead.qsize() >= PRIME_PACKETS:
                    self._tell_primed()
        except Exception as exc:  # a broken stream ends the song like its end would
            log.info("Audio stream ended early (%s)", type(exc).__name__)
        finally:
            self._reader_done.set()  # read() ends the song once the buffer is drained
            self._tell_primed()

    def _tell_primed(self) -> None:
        """Wake `prime` (on the event loop) from another thread, once."""
        if self._primed_told:
            return
        self._primed_told = True
        with contextlib.suppress(RuntimeError):  # the loop is closed: the bot stopped meanwhile
            self._loop.call_soon_threadsafe(self._primed.set)

    async def prime(self) -> None:
        """Wait until half a second is ready, the song ended, ffmpeg gave up or was stopped (at most
        `PRIME_TIMEOUT`). A wait on the loop, not a thread: the default thread pool resolves names."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._primed.wait(), PRIME_TIMEOUT)

    def is_opus(self) -> bool:
        return True

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
        """End ffmpeg, the download and the reader, and log what ffmpeg complained about. Safe from any
        thread and more than once (discord.py's player, the party, the garbage collector)."""
        with self._cleanup_lock:
            if self._cleaned:
                return
            self._cleaned = True
        self._stop_reading.set()
        with contextlib.suppress(RuntimeError):  # the loop is closed: the task went with it
            self._loop.call_soon_threadsafe(self._feeder.cancel)
        process = self._process
        with contextlib.suppress(OSError):
            process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
        if process.stdout is not None:
            with contextlib.suppress(OSError, ValueError):
                process.stdout.close()
        self._tell_primed()
        with contextlib.suppress(OSError, ValueError):
            self._errors.seek(0)
            head = self._errors.read(16000)
            self._errors.seek(0, os.SEEK_END)
            self._errors.seek(max(len(head), self._errors.tell() - 4000))
            output = (head + self._errors.read()).decode(errors="replace")  # the measurement comes last
            self._errors.close()
            complaints = [line for line in output.splitlines() if "[error]" in line or "[fatal]" in line]
            for line in complaints[:5]:
                log.warning("ffmpeg (song %s): %s", self.song_id, line.strip()[:300])
            measured = Loudness.parse(output) if self.on_measured is not None and self.start == 0 else None
            if measured is not None and self.on_measured is not None:
                with contextlib.suppress(RuntimeError):  # the loop is closed: the bot stopped meanwhile
                    self._loop.call_soon_threadsafe(self.on_measured, measured)

    @property
    def elapsed(self) -> float:
        """Where in the song playback is, in seconds (from the seek point; pauses excluded)."""
        return self.start + self.frames * FRAME_SECONDS


class LoudnessMemory:
    """Each song's loudness as measured on its first whole play, kept in the database for every process:
    later plays (a loop, the radio, a playlist) need only a gain (`Loudness.gain_filter`)."""

    def __init__(self, repo: Repository) -> None:
        self.repo = repo
        self._saving: set[asyncio.Task[None]] = set()

    async def recall(self, song_id: str) -> Loudness | None:
        try:
            known = await self.repo.song_loudness(song_id)
        except Exception as exc:  # the database is away: the song is measured again as it plays
            log.info("Could not read the loudness of song %s (%s)", song_id, type(exc).__name__)
            return None
        return Loudness(*known) if known is not None else None

    def remember(self, song_id: str) -> Callable[[Loudness], None]:
        """What `PartyAudio` calls (on the event loop) with the song's measurement."""

        def save(measured: Loudness) -> None:
            task = asyncio.create_task(self._save(song_id, measured))
            self._saving.add(task)
            task.add_done_callback(self._saving.discard)

        return save

    async def _save(self, song_id: str, measured: Loudness) -> None:
        try:
            await self.repo.save_song_loudness(song_id, measured.integrated, measured.true_peak, time.time())
        except Exception as exc:
            log.info("Could not keep the loudness of song %s (%s)", song_id, type(exc).__name__)


async def audio_stream(
    session: aiohttp.ClientSession, url: str | None, *, allow_private: bool
) -> media.MediaStream | None:
    """The song's audio, opened for reading as it plays, or None when it cannot be had.

    The same rules as downloads (`bot.producer.media`): http(s) only, public addresses only, each
    redirect checked. Opening it before ffmpeg starts lets the party skip a dead song at once with a note.
    """
    if not url:
        return None
    opened = await media.open_stream(session, url, allow_private=allow_private)
    if isinstance(opened, media.Skipped):
        log.info("Audio of a song cannot be played: %s", opened.reason)
        return None
    return opened
