"""Listening parties: songs played together in a voice channel (party.py), streamed by ffmpeg (audio.py)."""
