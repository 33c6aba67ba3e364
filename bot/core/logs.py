"""Logging set-up: a filter that blanks the bot's secrets out of every record, and one that keeps
strangers' malformed requests to the listener from filling the log with tracebacks."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Iterable

from aiohttp.http_exceptions import HttpProcessingError

CALLBACK_PATH = re.compile(r"(/callbacks/)[^/\s?#'\"]+")
"""A callback URL's last segment is the per-task secret that authenticates its result."""
INTERACTION_PATH = re.compile(r"(/(?:webhooks|interactions)/\d+/)[^/\s?#'\"]+")
"""`/webhooks/<application id>/<interaction token>/…` (follow-ups, the original response) and
`/interactions/<id>/<interaction token>/callback`: discord.py logs these URLs at DEBUG, and the token
answers as the bot in that channel for 15 minutes (a channel webhook's token, forever)."""
TOKEN_FIELD = re.compile(r"""(['"]token['"]\s*:\s*['"])[^'"]+""")
"""`'token': '…'` in a logged payload: an INTERACTION_CREATE event (discord.py logs every gateway
event at DEBUG), a voice server's token, a voice IDENTIFY."""


SECRET_INPUT = re.compile(r"""\{[^{}]*['"]custom_id['"]\s*:\s*['"][^'"]*secret['"][^{}]*\}""")
"""A submitted form input whose custom id ends in `secret` (a server's API key in its form): discord.py
logs the whole INTERACTION_CREATE at DEBUG, before the bot has read the value."""
INPUT_VALUE = re.compile(r"""(['"]value['"]\s*:\s*['"])[^'"]*""")


def redact_callback_paths(text: str) -> str:
    """`…/callbacks/<secret>` with the secret blanked: whoever reads it could deliver a forged result."""
    return CALLBACK_PATH.sub(r"\1********", text)


def redact_tokens(text: str) -> str:
    """Callback secrets, interaction and webhook tokens (in URLs) and `token` fields blanked."""
    text = INTERACTION_PATH.sub(r"\1********", redact_callback_paths(text))
    text = SECRET_INPUT.sub(lambda found: INPUT_VALUE.sub(r"\1********", found.group(0)), text)
    return TOKEN_FIELD.sub(r"\1********", text)


_LEARNED: set[str] = set()
"""Secrets the bot learned while running (servers' own API keys, once decrypted)."""


def hide_secret(secret: str) -> None:
    """Blank `secret` from every log line from now on, as the configured tokens are."""
    if len(secret) >= 8:  # shorter would blank ordinary words; no real key is that short
        _LEARNED.add(secret)


ANYWHERE_LENGTH = 16
"""A secret this long is blanked wherever it appears, even inside other text; a shorter one (a test
token, a short password) only where it stands alone, so `y` does not mangle `Applying`."""


def whole_token(secret: str) -> re.Pattern[str]:
    """The pattern that finds `secret` in a log line: anywhere when long, as a whole token when short."""
    escaped = re.escape(secret)
    if len(secret) >= ANYWHERE_LENGTH:
        return re.compile(escaped)
    return re.compile(rf"(?<![A-Za-z0-9_]){escaped}(?![A-Za-z0-9_])")


class RedactSecrets(logging.Filter):
    """Replace each secret with `********` in the final message, arguments and tracebacks included.

    The bot's tokens are known up front; callback secrets and interaction tokens are new all the
    time, so they are found by their place instead: in a URL (`/callbacks/<secret>`,
    `/webhooks/<app>/<token>`, `/interactions/<id>/<token>/callback`) or a payload's `token` field.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = [whole_token(secret) for secret in sorted({s for s in secrets if s}, key=len, reverse=True)]

    def _clean(self, text: str) -> str:
        for secret in self._secrets:
            text = secret.sub("********", text)
        for secret in _LEARNED:
            text = text.replace(secret, "********")
        return redact_tokens(text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self._clean(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._clean(record.exc_text)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        return True


class QuietProtocolErrors(logging.Filter):
    """One INFO line, without a traceback, for a malformed HTTP request to the listener.

    aiohttp logs each one as an ERROR with a traceback, and anyone who can reach the port can send
    them: that would let strangers fill the log with alarms. Errors in the bot's own handlers
    are untouched (the webhook's middleware logs those itself).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if record.name == "aiohttp.server" and isinstance(error, HttpProcessingError):
            # Only the parser's own words: the rest of its message quotes the stranger's bytes.
            reason = (str(error.message).splitlines() or [""])[0][:80]
            record.msg, record.args = f"Malformed HTTP request refused ({error.code} {reason!r})", None
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.exc_info = record.exc_text = None
        return True


class QuietDatabaseOutages(logging.Filter):
    """asyncpg's pool, refilling itself while PostgreSQL restarts, logs a traceback per attempt: an
    outage the bot rides out (and says so itself, once) would fill the terminal with stack traces.
    Its lines keep their words and lose the traceback, which is replaced by the error's name."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("asyncpg") and record.exc_info:
            error = record.exc_info[1]
            record.msg, record.args = f"{record.getMessage()} ({type(error).__name__})", None
            record.exc_info = record.exc_text = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line (`LOG_FORMAT=json`), for Loki, ELK and `jq`.

    Keys: `time` (UTC, ISO 8601), `level`, `logger`, `message`, and `exception` when there is one.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(level: str, secrets: Iterable[str], log_format: str = "plain") -> None:
    """One stream handler on the root logger; discord.py and aiohttp log through it too."""
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(QuietProtocolErrors())
    handler.addFilter(QuietDatabaseOutages())
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("discord.http").setLevel(max(logging.getLevelName(level), logging.INFO))
