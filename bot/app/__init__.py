"""The composition root: the only package that knows every other one, and that none imports.

Owns `MusicBot` (`bot`: builds every service, implements the protocols the lower packages ask
for, starts and stops things in order), the command set (`commands`: the cogs loaded, the one
error handler, syncing with Discord) and the HTTP listener's routes (`webhook`: callbacks,
`/healthz`, `/metrics`). `cogs/` sits beside it at the top: the app loads cogs by name, and cogs
may import `bot.app` and everything below.
"""
