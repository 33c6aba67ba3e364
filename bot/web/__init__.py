"""The web gallery: each server's songs in the browser, behind Discord sign-in, and public share pages.

Owns the pages (`pages`, Jinja2 `templates/`, `static/`), sign-in with Discord's OAuth2
authorization-code grant (`oauth`), the encrypted-cookie session and CSRF token (`app`), who may
see which server and song on the web (`access`: the bot's own view of the guild and
`bot.access.Visibility`, so exactly the Discord rules), the family-tree picture (`family`) and the
links other packages show (`links`). May import `bot.core`, `bot.storage`, `bot.access` and
`bot.songs`; `bot.app` registers its routes on the listener with `add_web_routes`.
"""
