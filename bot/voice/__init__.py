"""Listening parties: songs played together in a voice or stage channel.

Owns the party queue and its rules (`party`), what a party and its tracks are (`model`), the
party message's text and embeds (`message`) and ffmpeg streaming (`audio`). May import
`bot.songs` (rendering), `bot.core`, `bot.producer`, `bot.storage` and `bot.access`.
"""
