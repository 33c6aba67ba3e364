"""What a listener would measure: the Opus frames the fake voice server received, put back in an Ogg
file and measured by ffmpeg's EBU R128 meter (`ebur128`), the same standard the bot normalises to."""

from __future__ import annotations

import functools
import re
import struct
import subprocess
import tempfile
from pathlib import Path

from bot.voice.audio import ffmpeg_executable
from tests.fakes.fake_voice import Frame

SAMPLES_PER_FRAME = 960  # 20 ms at 48 kHz


@functools.cache
def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
        table.append(crc & 0xFFFFFFFF)
    return table


def _crc(data: bytes) -> int:
    """Ogg's CRC-32 (polynomial 0x04C11DB7, not reflected, no final xor)."""
    crc, table = 0, _crc_table()
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ table[((crc >> 24) & 0xFF) ^ byte]
    return crc


def _page(packet: bytes, *, sequence: int, granule: int, flags: int) -> bytes:
    lacing = [255] * (len(packet) // 255) + [len(packet) % 255]
    header = struct.pack("<4sBBqIIIB", b"OggS", 0, flags, granule, 0x5EED, sequence, 0, len(lacing)) + bytes(lacing)
    page = header + packet
    return page[:22] + struct.pack("<I", _crc(page)) + page[26:]


def ogg_opus(frames: list[Frame]) -> bytes:
    """An Ogg/Opus file of the received packets, one packet a page (stereo, 48 kHz, 20 ms each)."""
    head = b"OpusHead" + struct.pack("<BBHIhB", 1, 2, 312, 48000, 0, 0)
    tags = b"OpusTags" + struct.pack("<I", 4) + b"test" + struct.pack("<I", 0)
    pages = [_page(head, sequence=0, granule=0, flags=0x02), _page(tags, sequence=1, granule=0, flags=0)]
    for index, frame in enumerate(frames):
        last = index == len(frames) - 1
        granule = (index + 1) * SAMPLES_PER_FRAME
        pages.append(_page(frame.opus, sequence=index + 2, granule=granule, flags=0x04 if last else 0))
    return b"".join(pages)


def integrated_loudness(audio: bytes, suffix: str = ".ogg") -> float:
    """EBU R128 integrated loudness (LUFS) of an audio file, by ffmpeg's `ebur128` filter."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, f"audio{suffix}")
        path.write_bytes(audio)
        result = subprocess.run(
            [ffmpeg_executable(), "-hide_banner", "-nostats", "-i", str(path), "-af", "ebur128", "-f", "null", "-"],
            capture_output=True,
            text=True,
            check=True,
        )
    summary = result.stderr[result.stderr.rindex("Summary:") :]
    match = re.search(r"I:\s+(-?[\d.]+) LUFS", summary)
    assert match, summary
    return float(match.group(1))


@functools.cache
def tone_mp3(seconds: float, gain_db: float, frequency: int = 440) -> bytes:
    """An mp3 of a sine tone `gain_db` decibels from ffmpeg's default level (-18 dBFS)."""
    return subprocess.run(
        [
            *(ffmpeg_executable(), "-v", "error", "-f", "lavfi"),
            *("-i", f"sine=frequency={frequency}:duration={seconds}", "-af", f"volume={gain_db}dB"),
            *("-c:a", "libmp3lame", "-b:a", "64k", "-f", "mp3", "pipe:1"),
        ],
        check=True,
        capture_output=True,
    ).stdout
