"""The log filter blanks secrets wherever they appear: message, arguments, traceback."""

from __future__ import annotations

import io
import logging

from bot.core.logs import RedactSecrets


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
