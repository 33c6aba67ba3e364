"""The song lifecycle, and what members do with songs.

Owns every transition of a task (`service`: charge, queue, submit, take the result, refund),
posting results and status lines to Discord (`delivery`), asking the API about unfinished
tasks (`poller`), request bodies and song references (`actions`), member input checks
(`validation`), what members see (`render`), and lyrics, WAV/video exports, preferences,
favourites and retention. Reaches Discord through the client it is given (the
`discord.Client` protocol), never through `MusicBot`. May import `bot.core`, `bot.producer`,
`bot.storage`, `bot.cluster` and `bot.access`.
"""
