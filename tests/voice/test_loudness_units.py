"""The loudness chain's pieces: what the normaliser's measurement reads as, and the gain it gives."""

from __future__ import annotations

from bot.voice.audio import GAIN_MAX_DB, LOUDNESS_FILTER, Loudness, ffmpeg_arguments

MEASUREMENT = """[Parsed_loudnorm_0 @ 0x7f] [info]
{
\t"input_i" : "-22.26",
\t"input_tp" : "-18.38",
\t"input_lra" : "0.00",
\t"output_i" : "-13.96"
}
"""


def test_the_measurement_is_read_from_ffmpegs_output() -> None:
    """input_i and input_tp are the song's; a song stopped early (no JSON) or silent (-inf) gives none."""
    assert Loudness.parse(MEASUREMENT) == Loudness(-22.26, -18.38)
    assert Loudness.parse("[error] Header missing") is None
    assert Loudness.parse(MEASUREMENT.replace("-22.26", "-inf")) is None


def test_a_measured_song_gets_a_gain_and_a_limiter_only_when_its_peaks_need_one() -> None:
    """-22 LUFS: +8 dB; a loud master: -6 dB; a peaky quiet song: +6 dB with a limiter at -1.5 dBTP."""
    assert Loudness(-22.0, -18.0).gain_filter() == "volume=8.00dB"
    assert Loudness(-8.0, -0.1).gain_filter() == "volume=-6.00dB"
    assert Loudness(-20.0, -3.0).gain_filter().startswith("volume=6.00dB,alimiter=limit=0.8414:level=false")
    assert Loudness(-90.0, -80.0).gain_filter() == f"volume={GAIN_MAX_DB:.2f}dB"


def test_the_chain_normalises_unless_turned_off() -> None:
    """First play: the single-pass normaliser; measured: the gain; VOICE_LOUDNESS=off: neither."""
    assert LOUDNESS_FILTER in ffmpeg_arguments()
    assert "volume=8.00dB" in ffmpeg_arguments(measured=Loudness(-22.0, -18.0))
    plain = ffmpeg_arguments(normalise=False, measured=Loudness(-22.0, -18.0))
    assert "-af" not in plain
    assert ffmpeg_arguments(start=5)[ffmpeg_arguments(start=5).index("-ss") + 1] == "5.000"
