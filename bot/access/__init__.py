"""Who may see and do what, judged as Discord judges it.

Owns `visibility` (which channels, and so which songs, a member or `@everyone` can view) and
`permissions` (a server's Integrations overrides, applied to buttons, menus and replies that
Discord does not check itself). Each reaches Discord only through the small protocol defined
beside it, which `MusicBot` implements. May import `bot.core` and `bot.storage`.
"""
