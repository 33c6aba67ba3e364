"""Settings: read once from the environment (and `.env`), typed, frozen.

Every name here is a public contract with server owners; `.env.example` documents each one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

from bot.core.secrets import parse_keys

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
    """One or more settings are missing or malformed; `problems` holds one line per variable."""

    def __init__(self, problems: str | list[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


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
    database_pool_size: int = 10
    """PostgreSQL connections this process keeps open at most (its asyncpg pool's size)."""
    database_statement_cache_size: int = 100
    """Prepared statements asyncpg caches per connection; 0 behind PgBouncer in transaction mode."""
    default_model: str = "FUZZ-2.0 Pro"
    dev_guild_id: int | None = None
    guild_daily_quota: int = 20
    log_level: str = "INFO"
    log_format: str = "plain"
    task_timeout: float = 20 * 60
    poll_interval: float = 5.0
    callback_grace: float = 180.0
    message_content_intent: bool = False
    allow_private_media_hosts: bool = False
    """Fetch result files from loopback/private addresses too (a local API or proxy; the tests)."""
    retention_days: int = 30
    """Days after which finished tasks' request/result JSON and old daily usage rows are pruned; 0 keeps all."""
    """Fetch result files from loopback/private addresses too (a local API or proxy; the tests)."""
    max_running: int = 4
    max_running_per_member: int = 2
    max_queued: int = 20
    action_costs: Mapping[str, int] = field(default_factory=dict)
    max_listening_parties: int = 20
    voice_normalise: bool = True  # VOICE_LOUDNESS: every song at -14 LUFS (EBU R128), or "off"
    metrics: bool = False
    metrics_port: int | None = None
    shard_count: int | None = None
    shard_ids: tuple[int, ...] | None = None
    discord_rest_proxy: str | None = None
    lease_seconds: float = 30.0
    shutdown_grace: float = 8.0
    """Seconds from SIGTERM/Ctrl-C to exit, whatever the connections are doing (`docker stop` waits 10)."""
    secret_key: Secret | None = field(default=None, repr=False)
    """Fernet key(s) for secrets at rest (bot.core.secrets); None leaves those features off."""
    discord_client_secret: Secret | None = field(default=None, repr=False)
    """The application's OAuth2 client secret: with PUBLIC_URL and SECRET_KEY it turns the web gallery on."""
    discord_oauth_base: str = "https://discord.com"
    """Where Discord's OAuth2 pages and API live (a proxy, or the tests' fake)."""
    require_server_keys: bool = False
    """Public-bot mode: a server without its own Producer API key cannot spend credits."""

    @property
    def callback_mode(self) -> bool:
        """With a public URL the API calls us back; without one we poll."""
        return self.public_url is not None


PLACEHOLDER = re.compile(r"[\s<>\[\]{}]|\.\.\.|…")
"""Characters no token has: whitespace, brackets around `<your token>`, an ellipsis."""
PLACEHOLDER_WORDS = re.compile(r"(?i)(change[-_]?me|x{3,}|your[-_]?\w*|token|secret|placeholder|todo|none|null)")
"""Whole values that are words someone meant to replace."""

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FORMATS = ("plain", "json")


INLINE_COMMENT = re.compile(r"\s+#.*$")
"""` # seconds` after a value: python-dotenv (and so `./run.sh`) drops it, Docker's `--env-file` keeps it."""


def unquote(raw: str) -> str:
    """`"FUZZ-2.0 Pro"` → `FUZZ-2.0 Pro`, `5  # seconds` → `5`: Docker's `--env-file` and systemd keep
    quotes and trailing comments that python-dotenv removes, so they are removed here the same way: a
    value wrapped in one matching pair of quotes loses them (and anything after the closing quote),
    and an unquoted value loses a ` # comment` (whitespace, then `#`, then the rest of the line)."""
    value = raw.strip()
    if value[:1] in {'"', "'"}:
        closing = value.find(value[0], 1)
        if closing > 0 and (closing == len(value) - 1 or INLINE_COMMENT.match(value[closing + 1 :])):
            return value[1:closing].strip()
    return INLINE_COMMENT.sub("", value)


class _Reader:
    """Reads variables from one mapping and collects every problem instead of stopping at the first,
    so an owner fixes their configuration in one go."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env
        self.problems: list[str] = []

    def raw(self, name: str) -> str:
        return unquote(self._env.get(name) or "")

    def problem(self, text: str) -> None:
        self.problems.append(text)

    def integer(
        self, name: str, default: int | None, *, minimum: int | None = None, maximum: int | None = None
    ) -> int | None:
        raw = self.raw(name)
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            self.problem(f"{name} must be a whole number, got {raw!r}")
            return default
        if minimum is not None and value < minimum:
            self.problem(f"{name} must be at least {minimum}, got {value}")
            return default
        if maximum is not None and value > maximum:
            self.problem(f"{name} must be at most {maximum}, got {value}")
            return default
        return value

    def port(self, name: str, default: int) -> int:
        value = self.integer(name, default, minimum=0, maximum=65535)
        return default if value is None else value

    def number(self, name: str, default: float, *, minimum: float) -> float:
        raw = self.raw(name)
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            self.problem(f"{name} must be a number, got {raw!r}")
            return default
        if value < minimum:
            self.problem(f"{name} must be at least {minimum:g}, got {value:g}")
            return default
        return value

    def flag(self, name: str) -> bool:
        raw = self.raw(name).lower()
        if raw in {"", "0", "false", "no", "off"}:
            return False
        if raw in {"1", "true", "yes", "on"}:
            return True
        self.problem(f"{name} must be true or false, got {raw!r}")
        return False

    def choice(
        self, name: str, default: str, choices: tuple[str, ...], *, upper: bool = False, lower: bool = False
    ) -> str:
        raw = self.raw(name)
        value = (raw.upper() if upper else raw.lower() if lower else raw) or default
        if value not in choices:
            self.problem(f"{name} must be one of {', '.join(choices)}; got {raw!r}")
            return default
        return value

    def required(self, name: str) -> Secret:
        value = self.raw(name)
        if not value:
            self.problem(f"{name} is not set: add it to .env or the environment (see .env.example)")
        return Secret(value)

    def token(self, name: str, *, discord: bool = False) -> Secret:
        """A required token that is not an obvious placeholder: `<your bot token>`, `changeme`, text
        with spaces, or (for Discord) the application id, which is all digits. The value is never
        quoted back (it might be a real token pasted wrongly)."""
        value = self.required(name)
        if not value:
            return value
        if PLACEHOLDER.search(value) or PLACEHOLDER_WORDS.fullmatch(value):
            self.problem(
                f"{name} looks like a placeholder (it has spaces or brackets, or is a word like 'your token'), not a "
                "token: paste the real one"
            )
        elif discord and value.isdigit():
            self.problem(
                f"{name} is all digits, which is an application or user id, not a bot token: copy the token "
                "from the developer portal (Bot → Reset Token)"
            )
        return value

    def url(self, name: str, default: str | None) -> str | None:
        raw = self.raw(name)
        if not raw:
            return default
        if not raw.startswith(("http://", "https://")):
            self.problem(f"{name} must start with http:// or https://, got {raw!r}")
            return default
        return raw.rstrip("/")

    def database_url(self, name: str) -> Secret | None:
        """`postgresql://USER[:PASSWORD]@HOST:PORT/DB` selects PostgreSQL; empty keeps SQLite."""
        raw = self.raw(name)
        if not raw:
            return None
        if not raw.startswith(("postgresql://", "postgres://")):
            self.problem(f"{name} must start with postgresql:// (e.g. postgresql://bot:secret@db:5432/bot)")
            return None
        rest = raw.split("://", 1)[1]
        user_info = rest.rsplit("@", 1)[0] if "@" in rest else ""
        if any(mark in user_info for mark in "/?#@") or user_info.count(":") > 1:
            self.problem(
                f"{name}: the password seems to contain @, :, / or # as they are; percent-encode it (@ → %40, "
                ': → %3A, / → %2F, # → %23), e.g. python3 -c "import urllib.parse, sys; '
                "print(urllib.parse.quote(sys.argv[1], safe=''))\" 'your password'"
            )
            return None
        return Secret(raw)

    def secret_key(self, name: str) -> Secret | None:
        """One or more comma-separated Fernet keys; checked here so a typo is a configuration error."""
        raw = self.raw(name)
        if not raw:
            return None
        try:
            parse_keys(raw)
        except ValueError as exc:
            self.problem(str(exc))
            return None
        return Secret(raw)

    def shards(self) -> tuple[int | None, tuple[int, ...] | None]:
        """`SHARD_COUNT=4` with `SHARD_IDS=0,2` or `0-3` (or both forms mixed: `0-1,3`).

        SHARD_IDS alone cannot work (discord.py needs the total to route guilds to shards), so it is
        refused, as is an id outside 0..SHARD_COUNT-1 or a repeated one.
        """
        count = self.integer("SHARD_COUNT", None, minimum=1)
        raw = self.raw("SHARD_IDS")
        if not raw:
            return count, None
        if count is None:
            self.problem("SHARD_IDS needs SHARD_COUNT (the total number of shards across every process)")
            return None, None
        ids: list[int] = []
        for part in (piece.strip() for piece in raw.split(",")):
            first, dash, last = part.partition("-")
            if not first.strip().isdigit() or (dash and not last.strip().isdigit()):
                self.problem(f"SHARD_IDS must look like '0,2' or '0-3', got {raw!r}")
                return count, None
            low, high = int(first), int(last) if dash else int(first)
            if low > high:
                self.problem(f"SHARD_IDS range {part!r} runs backwards")
                return count, None
            ids.extend(range(low, high + 1))
        if max(ids) >= count:
            self.problem(f"SHARD_IDS must be below SHARD_COUNT={count} (shards are numbered from 0), got {raw!r}")
            return count, None
        if len(set(ids)) != len(ids):
            self.problem(f"SHARD_IDS names a shard twice: {raw!r}")
            return count, None
        return count, tuple(ids)

    def costs(self, name: str) -> dict[str, int]:
        """`extend=2,stems=0,lyrics=1`: credits per action; actions not named cost 1 (lyrics 0)."""
        costs: dict[str, int] = {}
        for part in filter(None, (piece.strip() for piece in self.raw(name).split(","))):
            action, _, value = part.partition("=")
            action = action.strip()
            if action not in PRICED or not value.strip().isdigit():
                self.problem(f"{name} must look like 'extend=2,stems=0' with actions from {', '.join(PRICED)}")
                return {}
            costs[action] = int(value)
        return costs


ACTIONS = ("generate", "cover", "extend", "replace_section", "swap_vocals", "swap_instrumentals", "variation", "stems")
PRICED = (*ACTIONS, "lyrics")
"""Everything `ACTION_COSTS` may price: the song actions, and lyrics (/lyrics, Again, /jam suggest)."""
DEFAULT_COSTS: Mapping[str, int] = {"lyrics": 0}
"""Costs when `ACTION_COSTS` does not name them; anything else costs 1. Lyrics are free by default."""


def settings_from_mapping(env: Mapping[str, str]) -> Settings:
    """Build settings from a plain mapping; tests call this directly.

    Raises `SettingsError` listing every missing or invalid variable at once.
    """
    read = _Reader(env)
    shard_count, shard_ids = read.shards()
    settings = Settings(
        discord_token=read.token("DISCORD_TOKEN", discord=True),
        producer_api_token=read.token("PRODUCER_API_TOKEN"),
        producer_api_base=read.url("PRODUCER_API_BASE", "https://api.acedata.cloud") or "",
        public_url=read.url("PUBLIC_URL", None),
        webhook_host=read.raw("WEBHOOK_HOST") or "0.0.0.0",  # noqa: S104
        webhook_port=read.port("WEBHOOK_PORT", 8080),
        database_path=Path(read.raw("DATABASE_PATH") or "data/bot.db"),
        database_url=read.database_url("DATABASE_URL"),
        database_pool_size=read.integer("DATABASE_POOL_SIZE", 10, minimum=1, maximum=1000) or 10,
        database_statement_cache_size=read.integer("DATABASE_STATEMENT_CACHE_SIZE", 100, minimum=0) or 0,
        default_model=read.choice("DEFAULT_MODEL", "FUZZ-2.0 Pro", MODELS),
        dev_guild_id=read.integer("DEV_GUILD_ID", None, minimum=1),
        guild_daily_quota=read.integer("GUILD_DAILY_QUOTA", 20, minimum=0) or 0,
        log_level=read.choice("LOG_LEVEL", "INFO", LOG_LEVELS, upper=True),
        log_format=read.choice("LOG_FORMAT", "plain", LOG_FORMATS, lower=True),
        task_timeout=read.number("TASK_TIMEOUT", 20 * 60, minimum=10),
        poll_interval=read.number("POLL_INTERVAL", 5.0, minimum=1.0),
        callback_grace=read.number("CALLBACK_GRACE", 180.0, minimum=0),
        message_content_intent=read.flag("MESSAGE_CONTENT_INTENT"),
        allow_private_media_hosts=read.flag("ALLOW_PRIVATE_MEDIA_HOSTS"),
        retention_days=read.integer("RETENTION_DAYS", 30, minimum=0) or 0,
        max_running=read.integer("MAX_RUNNING_PER_GUILD", 4, minimum=1) or 4,
        max_running_per_member=read.integer("MAX_RUNNING_PER_MEMBER", 2, minimum=1) or 2,
        max_queued=read.integer("MAX_QUEUED_PER_GUILD", 20, minimum=0) or 0,
        action_costs=read.costs("ACTION_COSTS"),
        max_listening_parties=read.integer("MAX_LISTENING_PARTIES", 20, minimum=1) or 20,
        voice_normalise=read.choice("VOICE_LOUDNESS", "normalise", ("normalise", "off")) == "normalise",
        metrics=read.flag("METRICS"),
        metrics_port=read.integer("METRICS_PORT", None, minimum=0, maximum=65535),
        shard_count=shard_count,
        shard_ids=shard_ids,
        discord_rest_proxy=read.url("DISCORD_REST_PROXY", None),
        lease_seconds=read.number("LEASE_SECONDS", 30.0, minimum=2),
        secret_key=read.secret_key("SECRET_KEY"),
        discord_client_secret=Secret(read.raw("DISCORD_CLIENT_SECRET")) if read.raw("DISCORD_CLIENT_SECRET") else None,
        discord_oauth_base=read.url("DISCORD_OAUTH_BASE", "https://discord.com") or "https://discord.com",
        require_server_keys=read.flag("REQUIRE_SERVER_KEYS"),
        shutdown_grace=read.number("SHUTDOWN_GRACE", 8.0, minimum=1),
    )
    if settings.require_server_keys and settings.secret_key is None and "SECRET_KEY" not in str(read.problems):
        # Servers' keys are stored encrypted with it: without it no server could ever add one.
        read.problem("REQUIRE_SERVER_KEYS=true needs SECRET_KEY (`python -m bot keygen` prints one)")
    if settings.metrics and settings.metrics_port and settings.metrics_port == settings.webhook_port:
        read.problem(
            f"METRICS_PORT={settings.metrics_port} is the same as WEBHOOK_PORT: leave METRICS_PORT empty to serve "
            "/metrics on the webhook listener, or choose another port"
        )
    if read.problems:
        raise SettingsError(read.problems)
    return settings


def load_settings(env_file: str | os.PathLike[str] = ".env") -> Settings:
    """Read `.env` (if present) under the real environment, which wins, and build settings."""
    merged = {k: v for k, v in dotenv_values(env_file).items() if v is not None}
    merged.update(os.environ)
    return settings_from_mapping(merged)
