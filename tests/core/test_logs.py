"""The log filter blanks secrets wherever they appear: message, arguments, traceback."""

from __future__ import annotations

import io
import logging

import asyncpg

from bot.core.logs import QuietDatabaseOutages, RedactSecrets


def test_secrets_are_blanked_everywhere() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecrets(["tok-123456", "api-abcdef"]))
    logger = logging.getLogger("test.redact")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("header was Bearer %s", "api-abcdef")
        logger.warning("token tok-123456 in the message")
        try:
            raise RuntimeError("failed with tok-123456")
        except RuntimeError:
            logger.exception("boom")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "tok-123456" not in text and "api-abcdef" not in text
    assert "Bearer ********" in text and "token ******** in" in text and "failed with ********" in text
    assert "RuntimeError" in text


def test_asyncpg_pool_tracebacks_become_one_line() -> None:
    """While PostgreSQL restarts, asyncpg's pool logs a traceback per refill attempt; the operator's
    terminal gets its words and the error's name instead."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(QuietDatabaseOutages())
    logger = logging.getLogger("asyncpg.pool")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            raise asyncpg.CannotConnectNowError("the database system is shutting down")
        except asyncpg.CannotConnectNowError:
            logger.warning("Failed to restore the pool connection floor; retrying", exc_info=True)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    assert stream.getvalue() == "Failed to restore the pool connection floor; retrying (CannotConnectNowError)\n"
