"""Playlists and the radio: members' lists of the server's songs, and what a party plays when its queue runs out.

Owns the playlist rules (`service`: who may edit, rename and delete; one song once per playlist;
order; what a member may see of a playlist), what they read like (`render`: pages, the `.m3u8`
export) and the radio's choice of the next song (`radio`). Listening parties (`bot.voice`, beside
this package) reach the radio through the hook the listening cog sets, never by import; the
data lives in `bot.storage.playlists`. May import `bot.core`, `bot.storage`, `bot.access` and
`bot.songs` (rendering).
"""
