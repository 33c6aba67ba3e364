"""The Producer (FUZZ) music API: the one HTTP client, its result shapes, and its files.

Owns `client.ProducerClient` (every request the bot sends to the API, retries, errors),
`models` (parsing what the API answers), `lookup` (finding submissions whose answer was lost),
`wording` (the sentence a member reads for each API failure) and `media` (downloading result
files: size-capped, time-limited, public addresses only). May import `bot.core` only.
"""
