"""Song contests: a theme, a submission deadline, a secret vote, ranked results and a leaderboard.

Owns `ContestService` (who may enter and vote, the phase timers every process checks, the outbox's
contest announcements), `durations` (`2d`, `12h`, `90m`), `render` (every contest message and the
leaderboard embed), `wording` (what members are told privately) and `events` (the Discord scheduled
event for the results).

May import `bot.core`, `bot.storage`, `bot.cluster`, `bot.access` and `bot.songs` (it builds on
songs, their visibility and the outbox's follow-ups); never `bot.app` or the cogs, which hand it the
vote menu (`ContestService.vote_view`).
"""
