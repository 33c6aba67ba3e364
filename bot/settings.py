"""Settings: read once from the environment (and `.env`), typed, frozen.

Every name here is a public contract with server owners; `.env.example` documents each one.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

MODELS: tuple[str, ...] = (
    "FUZZ-2.0 Pro",
    "FUZZ-2.0",
    "FUZZ-2.0 Raw",
    "FUZZ-1.1 Pro",
    "FUZZ-1.1",
    "FUZZ-1.0 Pro",
    "FUZZ-1.0",
    "FUZZ-0.8",
)


class SettingsError(Exception):
    """A setting is missing or malformed; the message names it in one line."""


class Secret(str):
    """A string that never shows itself in `repr`, so settings can be logged safely."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Secret('********')"


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the bot is configured with. Built once by `load_settings`."""

    discord_token: Secret = field(repr=False)
    producer_api_token: Secret = field(repr=False)
    producer_api_base: str = "https://api.acedata.cloud"
    public_url: str | None = None
    webhook_host: str = "0.0.0.0"  # noqa: S104 - the listener must be reachable from a proxy or the API
    webhook_port: int = 8080
    database_path: Path = Path("data/bot.db")
    database_url: Secret | None = field(default=None, repr=False)  # may carry a password
    default_model: str = "FUZZ-2.0 Pro"
    dev_guild_id: int | None = None
    guild_daily_quota: int = 20
    log_level: str = "INFO"
    task_timeout: float = 20 * 60
    poll_interval: float = 5.0
    callback_grace: float = 180.0
    message_content_intent: bool = False
    max_running: int = 4
    max_running_per_member: int = 2
    max_queued: int = 20
    action_costs: Mapping[str, int] = field(default_factory=dict)
    max_listening_parties: int = 20

    @property
    def callback_mode(self) -> bool:
        """With a public URL the API calls us back; without one we poll."""
        return self.public_url is not None


def _int(env: Mapping[str, str], name: str, default: int | None, *, minimum: int | None = None) -> int | None:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, *, minimum: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum:g}, got {value:g}")
    return value


def _bool(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in {"", "0", "false", "no", "off"}:
        return False
    if raw in {"1", "true", "yes", "on"}:
        return True
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


ACTIONS = ("generate", "cover", "extend", "replace_section", "swap_vocals", "swap_instrumentals", "variation", "stems")
PRICED = (*ACTIONS, "lyrics")
"""Everything `ACTION_COSTS` may price: the song actions, and lyrics (/lyrics, Again, /jam suggest)."""
DEFAULT_COSTS: Mapping[str, int] = {"lyrics": 0}
"""Costs when `ACTION_COSTS` does not name them; anything else costs 1. Lyrics are free by default."""


def _costs(env: Mapping[str, str], name: str) -> dict[str, int]:
    """`extend=2,stems=0,lyrics=1`: credits per action; actions not named cost 1 (lyrics 0)."""
    costs: dict[str, int] = {}
    for part in filter(None, (piece.strip() for piece in env.get(name, "").split(","))):
        action, _, value = part.partition("=")
        action = action.strip()
        if action not in PRICED or not value.strip().isdigit():
            raise SettingsError(f"{name} must look like 'extend=2,stems=0' with actions from {', '.join(PRICED)}")
        costs[action] = int(value)
    return costs


def _required(env: Mapping[str, str], name: str) -> Secret:
    value = env.get(name, "").strip()
    if not value:
        raise SettingsError(f"{name} is not set: add it to .env (see .env.example)")
    return Secret(value)


def _url(env: Mapping[str, str], name: str, default: str | None) -> str | None:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.startswith(("http://", "https://")):
        raise SettingsError(f"{name} must start with http:// or https://, got {raw!r}")
    return raw.rstrip("/")


def _database_url(env: Mapping[str, str], name: str) -> Secret | None:
    """`postgresql://USER[:PASSWORD]@HOST:PORT/DB` selects PostgreSQL; empty keeps SQLite."""
    raw = env.get(name, "").strip()
    if not raw:
        return None
    if not raw.startswith(("postgresql://", "postgres://")):
        raise SettingsError(f"{name} must start with postgresql:// (e.g. postgresql://bot:secret@db:5432/bot)")
    return Secret(raw)


def settings_from_mapping(env: Mapping[str, str]) -> Settings:
    """Build settings from a plain mapping; tests call this directly."""
    default_model = env.get("DEFAULT_MODEL", "").strip() or "FUZZ-2.0 Pro"
    if default_model not in MODELS:
        raise SettingsError(f"DEFAULT_MODEL must be one of {', '.join(MODELS)}; got {default_model!r}")
    log_level = env.get("LOG_LEVEL", "").strip().upper() or "INFO"
    if log_level not in logging.getLevelNamesMapping():
        raise SettingsError(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR; got {log_level!r}")
    port = _int(env, "WEBHOOK_PORT", 8080, minimum=0)
    assert port is not None
    quota = _int(env, "GUILD_DAILY_QUOTA", 20, minimum=0)
    assert quota is not None
    return Settings(
        discord_token=_required(env, "DISCORD_TOKEN"),
        producer_api_token=_required(env, "PRODUCER_API_TOKEN"),
        producer_api_base=_url(env, "PRODUCER_API_BASE", "https://api.acedata.cloud") or "",
        public_url=_url(env, "PUBLIC_URL", None),
        webhook_host=env.get("WEBHOOK_HOST", "").strip() or "0.0.0.0",  # noqa: S104
        webhook_port=port,
        database_path=Path(env.get("DATABASE_PATH", "").strip() or "data/bot.db"),
        database_url=_database_url(env, "DATABASE_URL"),
        default_model=default_model,
        dev_guild_id=_int(env, "DEV_GUILD_ID", None, minimum=1),
        guild_daily_quota=quota,
        log_level=log_level,
        task_timeout=_float(env, "TASK_TIMEOUT", 20 * 60, minimum=10),
        poll_interval=_float(env, "POLL_INTERVAL", 5.0, minimum=1.0),
        callback_grace=_float(env, "CALLBACK_GRACE", 180.0, minimum=0),
        message_content_intent=_bool(env, "MESSAGE_CONTENT_INTENT"),
        max_running=_int(env, "MAX_RUNNING_PER_GUILD", 4, minimum=1) or 4,
        max_running_per_member=_int(env, "MAX_RUNNING_PER_MEMBER", 2, minimum=1) or 2,
        max_queued=_int(env, "MAX_QUEUED_PER_GUILD", 20, minimum=0) or 0,
        action_costs=_costs(env, "ACTION_COSTS"),
        max_listening_parties=_int(env, "MAX_LISTENING_PARTIES", 20, minimum=1) or 20,
    )


def load_settings(env_file: str | os.PathLike[str] = ".env") -> Settings:
    """Read `.env` (if present) under the real environment, which wins, and build settings."""
    merged = {k: v for k, v in dotenv_values(env_file).items() if v is not None}
    merged.update(os.environ)
    return settings_from_mapping(merged)
