"""Listening parties: songs played together in a voice or stage channel.

Owns the party queue and its message (`party`) and ffmpeg streaming (`audio`). May import
`bot.songs` (rendering), `bot.core`, `bot.producer`, `bot.storage` and `bot.access`.
"""
