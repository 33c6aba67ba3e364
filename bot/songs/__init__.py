"""The song lifecycle, and what members do with songs.

Owns every transition of a task (`service`: charge, queue, submit, take the result, refund;
with `requests` for what a request is, `quota` for credits and limits, `recovery` for finishing
what a stopped process left, and `library` for the songs members name), posting results to
Discord (`delivery`) and keeping status lines true (`status`), asking the API about unfinished
tasks (`poller`), request bodies and song references (`actions`), member input checks
(`validation`), what members see (`render`), and lyrics, WAV/video exports, preferences,
favourites and retention. Reaches Discord through the client it is given (the
`discord.Client` protocol), never through `MusicBot`. May import `bot.core`, `bot.producer`,
`bot.storage`, `bot.cluster` and `bot.access`.
"""
