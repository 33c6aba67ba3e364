"""What an operator runs and watches.

Owns `python -m bot check` (`check`), `python -m bot backup` (`backup`), what `/healthz` reports
(`health`), start-up problems turned into one line each (`startup`) and the owner's DM when the
API account is in trouble (`alerts`). May import `bot.core`, `bot.producer`, `bot.storage` and
`bot.cluster`; never `bot.app` (alerts reach Discord through the `OwnerContact` protocol).
"""
