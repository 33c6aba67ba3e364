"""The plain words a member reads for each Producer API failure, and what happened to their credit."""

from __future__ import annotations

from bot.producer.client import ProducerError


def describe_api_error(error: ProducerError) -> str:
    """Turn an API failure into one sentence for the member, plus what happened to their credit."""
    if error.server_guild is not None and (error.auth_failed or error.code == "used_up"):
        return (
            "The music service refused this server's own API key, so songs are paused in this server; "
            "its managers have been told. No credit was used."
        )
    if error.auth_failed:
        return "The music service refused the bot's API key; the bot's owner has been told. No credit was used."
    if error.code == "used_up":
        return "The bot's Producer credits are used up; the bot's owner has been told. No credit was used."
    if error.code == "too_many_requests":
        return "The music service is busy right now, try again in a minute. No credit was used."
    if error.code == "forbidden":
        detail = f": {error.message}" if error.message else "."
        return f"The API's content filter rejected this request{detail} No credit was used."
    if error.code == "bad_request" or (400 <= error.status < 500):
        detail = error.message or "the request was invalid"
        return f"The music service refused the request: {detail}. No credit was used."
    return "The music service had an error and did not take the request, try again later. No credit was used."
