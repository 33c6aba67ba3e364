"""The plain words a member reads for each Producer API failure, and what happened to their credit.

Answers a `Phrase` (an English template and its parameters): this package sits below `bot.i18n`,
so the sentence is translated where it is shown. What the API itself wrote (`error.message`) is
passed on as it is.
"""

from __future__ import annotations

from bot.core.errors import Phrase
from bot.producer.client import ProducerError


def describe_api_error(error: ProducerError, *, charged: bool = True) -> Phrase:
    """Turn an API failure into one sentence for the member, plus (when `charged`: the request cost a
    credit) that no credit was used."""
    sentence = _describe(error)
    return Phrase("{reason} No credit was used.", reason=sentence) if charged else sentence


def _describe(error: ProducerError) -> Phrase:
    if error.server_guild is not None and (error.auth_failed or error.code == "used_up"):
        return Phrase(
            "The music service refused this server's own API key, so songs are paused in this server; "
            "its managers have been told."
        )
    if error.auth_failed:
        return Phrase("The music service refused the bot's API key; the bot's owner has been told.")
    if error.code == "used_up":
        return Phrase("The bot's Producer credits are used up; the bot's owner has been told.")
    if error.code == "too_many_requests":
        return Phrase("The music service is busy right now, try again in a minute.")
    if error.code == "forbidden":
        if error.message:
            return Phrase("The API's content filter rejected this request: {detail}", detail=error.message)
        return Phrase("The API's content filter rejected this request.")
    if error.code == "bad_request" or (400 <= error.status < 500):
        if error.message:
            return Phrase("The music service refused the request: {detail}.", detail=error.message)
        return Phrase("The music service refused the request: the request was invalid.")
    return Phrase("The music service had an error and did not take the request, try again later.")
