"""Listening parties: CPU and memory per concurrently playing server, and stutter at the listener's end.

The real bot (`python -m bot`) runs in a child process against the fakes; the fake voice receiver runs
in the benchmark's process and decrypts every RTP packet. `GUILDS` servers each have a member in a
voice channel and a song whose audio is a real mp3 of `SECONDS` seconds (a sine tone made by the
bot's own ffmpeg), served by the fake Producer API's media server.

First one server plays alone (the baseline), then all `GUILDS` start at the same moment; the whole
run is made twice, by one bot with loudness normalisation off (`VOICE_LOUDNESS=off`, the chain as it
was before normalisation) and then by one with it on (the default), so its cost is a ratio measured
on the same machine in the same minutes. With normalisation all servers then play once more: a
song's first play goes through the single-pass normaliser (`loudnorm`, which measures it), a later
play through a plain gain from that measurement. Measured (first plays, with normalisation):

* stutter: the longest gap between consecutive Opus frames of one song at the receiver (target:
  none over 100 ms with 20 servers at once on 2 cores), and p99 of all gaps;
* completeness: Opus frames received per song against 50 per second of audio;
* CPU: the bot process plus its ffmpeg children (utime + stime, children counted once reaped), over
  the playing window (connecting and stopping included), per second of audio played: the share of
  one core a playing server costs;
* memory: the sum of PSS (RSS with shared pages divided among their sharers) of the bot and its
  ffmpeg processes, sampled every 250 ms, above the
  bot's idle RSS, per playing server.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import BOT_READY, Child, Row, Section, bot_env, mb, ms, percentile, start_fakes, stop_fakes
from tests.fakes.fake_voice import Stream, voice_tls_files
from tests.voice_helpers import sine_mp3

GUILDS = 20
SECONDS = 20.0
QUICK_SECONDS = 8.0
GAP_TARGET = 0.100
PRIORITY = -10
"""Nice value for the bot and the fakes where allowed (root): on a shared machine, other work then
yields to them, which is what 2 dedicated cores would give; the note says whether it applied."""


def _raise_priority(pid: int = 0) -> bool:
    """Renice a process (0: this one) before it starts its threads and children, which inherit it."""
    try:
        os.setpriority(os.PRIO_PROCESS, pid, PRIORITY)
    except (OSError, PermissionError):
        return False
    return True


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    """utime + stime + cutime + cstime of a process (its reaped children included), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(value) for value in fields[11:15]) / CLOCK_TICKS


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found.extend(int(child) for child in (task / "children").read_text().split())
        except OSError:
            continue
    return found


def _pss(pid: int) -> int:
    """Proportional set size: private memory plus a fair share of pages shared with others.

    Twenty ffmpeg processes share one binary's pages; adding up their RSS would count those twenty times.
    """
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@dataclass
class Round:
    guilds: int
    wall: float
    cpu: float
    peak_pss: int
    idle_pss: int
    max_gap: float
    p99_gap: float
    frames: list[int]
    expected: int
    ffmpeg_peak: int

    seconds: float = 0.0

    @property
    def cpu_per_guild(self) -> float:
        """Share of one core per playing server: CPU seconds over the seconds of audio played."""
        return self.cpu / (self.seconds * self.guilds)

    @property
    def pss_per_guild(self) -> float:
        return max(0, self.peak_pss - self.idle_pss) / self.guilds

    @property
    def complete(self) -> int:
        return sum(1 for n in self.frames if abs(n - self.expected) <= self.expected * 0.05 + 2)


async def _sample(pid: int, peak: list[int]) -> None:
    while True:
        children = _children(pid)
        total = _pss(pid) + sum(_pss(child) for child in children)
        peak[0] = max(peak[0], total)
        peak[1] = max(peak[1], len(children))
        await asyncio.sleep(0.25)


async def _play_round(fake, world: list[tuple[int, int, int, int, str]], child: Child, seconds: float) -> Round:
    pid = child.proc.pid
    voice = fake.voice
    already = {id(stream) for stream in voice.streams}
    idle = _pss(pid)
    peak = [0, 0]
    sampler = asyncio.create_task(_sample(pid, peak))
    heard_before = {guild: len(voice.track_lengths(guild)) for guild, *_ in world}
    cpu_start = _cpu_seconds(pid)
    started = time.monotonic()
    await asyncio.gather(
        *(
            fake.invoke_slash("play", {"song": song_id}, user_id=member, channel_id=text)
            for _, text, _, member, song_id in world
        )
    )
    guild_ids = [guild for guild, *_ in world]
    for guild in guild_ids:  # one more song heard in every server than before this round
        await voice.wait_for_tracks(guild, heard_before[guild] + 1, timeout=seconds * 4 + 30)
    # Stop every party and let ffmpeg be reaped, so its CPU is in the bot's cutime/cstime.
    await asyncio.gather(
        *(fake.invoke_slash("stop", {}, user_id=member, channel_id=text) for _, text, _, member, _ in world)
    )
    await fake.wait_for(lambda: all(voice.bot_channel(g) is None for g in guild_ids), timeout=30)
    await fake.wait_for(lambda: not _children(pid), timeout=30)
    wall = time.monotonic() - started
    cpu = _cpu_seconds(pid) - cpu_start
    sampler.cancel()
    streams: list[Stream] = [s for s in voice.streams if id(s) not in already and s.guild_id in guild_ids]
    gaps = [b.at - a.at for stream in streams for track in stream.tracks() for a, b in itertools.pairwise(track)]
    frames = [len(track) for stream in streams for track in stream.tracks()]
    return Round(
        guilds=len(world),
        wall=wall,
        cpu=cpu,
        peak_pss=peak[0],
        idle_pss=idle,
        max_gap=max(gaps, default=0.0),
        p99_gap=percentile(gaps, 99),
        frames=frames,
        expected=round(seconds * 50),
        ffmpeg_peak=peak[1],
        seconds=seconds,
    )


async def measure(
    seconds: float, guilds: int = GUILDS, loudness: str = "normalise", *, again: bool = False
) -> tuple[Round, Round, Round | None, bool]:
    """One server alone, then all at once (and, with `again`, all at once a second time: every song's
    loudness is then known, so the chain is a plain gain instead of the single-pass normaliser)."""
    boosted = _raise_priority()  # before the fakes start their receiver thread
    fake, producer, ids = await start_fakes()
    producer.auto_complete = True
    try:
        world: list[tuple[int, int, int, int, str]] = []
        for n in range(guilds):
            guild = ids.guild_id if n == 0 else fake.add_guild(f"Bench Guild {n}")
            text = ids.channel_id if n == 0 else fake.add_channel(guild, "music")
            lounge = fake.voice.add_voice_channel(guild, "Lounge")
            listener = fake.add_user(f"listener-{n}")  # a member is in one voice channel at a time
            world.append((guild, text, lounge, listener, ""))
        with tempfile.TemporaryDirectory(prefix="bench-voice-") as tmp:
            env = bot_env(fake, producer, Path(tmp), BENCH_VOICE_CA=str(voice_tls_files()[0]), VOICE_LOUDNESS=loudness)
            child = await Child.spawn(["-m", "bench.child", "bot"], env, cwd=Path(tmp))
            boosted = _raise_priority(child.proc.pid) and boosted
            try:
                await child.wait_for(BOT_READY, within=60)
                audio = sine_mp3(seconds)
                for index, (guild, text, lounge, listener, _) in enumerate(world):
                    producer.script(title=f"Bench song {index}", duration=str(seconds))
                    await fake.invoke_slash(
                        "generate", {"prompt": "a calm tone"}, user_id=ids.member_id, channel_id=text
                    )
                    message = await fake.wait_for_message(
                        text, lambda m: any("Song id" in str(e.get("fields")) for e in m.embeds), timeout=60
                    )
                    song_id = next(f["value"].strip("`") for f in message.embeds[0]["fields"] if f["name"] == "Song id")
                    producer.set_media(f"{song_id}.mp3", audio)
                    await fake.voice.join(listener, lounge)
                    world[index] = (guild, text, lounge, listener, song_id)
                await asyncio.sleep(1.0)
                alone = await _play_round(fake, world[:1], child, seconds)
                await asyncio.sleep(1.0)
                together = await _play_round(fake, world, child, seconds)
                repeat = None
                if again:
                    await asyncio.sleep(1.0)
                    repeat = await _play_round(fake, world, child, seconds)
            finally:
                await child.stop()
    finally:
        await stop_fakes(fake, producer)
    if boosted:
        os.setpriority(os.PRIO_PROCESS, 0, 0)
    return alone, together, repeat, boosted


async def run(quick: bool) -> Section:
    seconds = QUICK_SECONDS if quick else SECONDS
    _, plain, _, _ = await measure(seconds, loudness="off")
    alone, together, repeat, boosted = await measure(seconds, again=True)
    assert repeat is not None
    n = together.guilds
    section = Section("Listening parties")
    section.rows = [
        Row(
            f"voice: longest gap between frames, {n} servers playing",
            ms(together.max_gap),
            f"{ms(alone.max_gap)} (1 server)",
            together.max_gap / alone.max_gap if alone.max_gap else None,
            f"≤ {GAP_TARGET * 1000:.0f} ms",
            together.max_gap <= GAP_TARGET,
        ),
        Row(
            f"voice: p99 gap between frames, {n} servers",
            ms(together.p99_gap),
            f"{ms(alone.p99_gap)} (1 server)",
            together.p99_gap / alone.p99_gap if alone.p99_gap else None,
        ),
        Row(
            f"voice: songs heard whole ({together.expected} frames ±5 %)",
            f"{together.complete} of {n}",
            f"{alone.complete} of 1",
            target=f"{n} of {n}",
            met=together.complete == n,
        ),
        Row(
            "voice: CPU per playing server (bot + ffmpeg)",
            f"{together.cpu_per_guild * 100:.1f} % of a core",
            f"{alone.cpu_per_guild * 100:.1f} % (1 server)",
            together.cpu_per_guild / alone.cpu_per_guild if alone.cpu_per_guild else None,
        ),
        Row(
            f"voice: CPU per playing server, {n} servers, normalised (-14 LUFS) vs without",
            f"{together.cpu_per_guild * 100:.1f} % of a core",
            f"{plain.cpu_per_guild * 100:.1f} % (no loudnorm, same run)",
            together.cpu_per_guild / plain.cpu_per_guild if plain.cpu_per_guild else None,
        ),
        Row(
            f"voice: CPU per playing server, {n} servers, songs played before (measured gain) vs without",
            f"{repeat.cpu_per_guild * 100:.1f} % of a core",
            f"{plain.cpu_per_guild * 100:.1f} % (no normalisation, same run)",
            repeat.cpu_per_guild / plain.cpu_per_guild if plain.cpu_per_guild else None,
        ),
        Row(
            f"voice: longest gap between frames, {n} servers, songs played before (measured gain)",
            ms(repeat.max_gap),
            target=f"≤ {GAP_TARGET * 1000:.0f} ms",
            met=repeat.max_gap <= GAP_TARGET,
        ),
        Row(
            f"voice: longest gap between frames, {n} servers, without normalisation",
            ms(plain.max_gap),
            target=f"≤ {GAP_TARGET * 1000:.0f} ms",
            met=plain.max_gap <= GAP_TARGET,
        ),
        Row(
            f"voice: memory per playing server, {n} servers: first plays / played before / without normalisation",
            f"{mb(together.pss_per_guild)} / {mb(repeat.pss_per_guild)}",
            mb(plain.pss_per_guild),
            repeat.pss_per_guild / plain.pss_per_guild if plain.pss_per_guild else None,
        ),
        Row(
            "voice: memory per playing server (bot + ffmpeg PSS)",
            mb(together.pss_per_guild),
            f"{mb(alone.pss_per_guild)} (1 server)",
            together.pss_per_guild / alone.pss_per_guild if alone.pss_per_guild else None,
        ),
    ]
    section.notes.append(
        f"Voice (loudness normalisation on; the same run without it took {plain.cpu:.1f} s of CPU for {n} servers, "
        f"frames per song {sorted(plain.frames)}): {n} servers each played one {seconds:g} s song at once "
        "(and one server alone first), "
        f"through ffmpeg ({together.ffmpeg_peak} processes at the peak) and discord.py's voice client to the fake "
        f"receiver. Window {together.wall:.1f} s from the /play commands to every party stopped and ffmpeg reaped "
        f"(alone: {alone.wall:.1f} s), CPU {together.cpu:.1f} s in total (alone {alone.cpu:.1f} s); peak PSS of "
        f"bot + ffmpeg {mb(together.peak_pss)} over an idle bot of {mb(together.idle_pss)}. Frames per song: "
        f"{sorted(together.frames)} (expected {together.expected}). "
        + (
            f"The bot and the fakes ran at nice {PRIORITY}, so the shared machine's other work yielded to them; "
            "ffmpeg ran 10 nice levels below the bot, as it always does."
            if boosted
            else "The bot and the fakes ran at normal priority among the machine's other work; ffmpeg ran 10 nice "
            "levels below the bot, as it always does."
        )
    )
    return section
