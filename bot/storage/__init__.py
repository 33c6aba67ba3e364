"""The one repository interface over SQLite (the default) and PostgreSQL; `open_repository(settings)` opens it.

Owns the schema (`migrations/`), the two database backends (`sqlite`, `postgres`, behind the
`database` interface) and every query, split by what it is about (queue, tasks, songs, community,
favourites, features, cluster leases) and joined in `repository.Repository`. Every state change
of the bot goes through here first. May import `bot.core` only; nothing here knows Discord or the API.
"""

from bot.storage.models import (
    CANCELLABLE_STATES,
    COPY_KINDS,
    GUILD_SETTING_FIELDS,
    OPEN_STATES,
    RUNNING_STATES,
    CreditLimits,
    DatabaseUnavailable,
    GuildSettings,
    Jam,
    JamLine,
    Limits,
    LyricsDraft,
    NewTask,
    Preferences,
    Refusal,
    SongCopy,
    SongRow,
    StorageError,
    Task,
)
from bot.storage.playlists import PartyModes, Playlist
from bot.storage.repository import Repository, open_repository

__all__ = [
    "CANCELLABLE_STATES",
    "COPY_KINDS",
    "GUILD_SETTING_FIELDS",
    "OPEN_STATES",
    "RUNNING_STATES",
    "CreditLimits",
    "DatabaseUnavailable",
    "GuildSettings",
    "Jam",
    "JamLine",
    "Limits",
    "LyricsDraft",
    "NewTask",
    "PartyModes",
    "Playlist",
    "Preferences",
    "Refusal",
    "Repository",
    "SongCopy",
    "SongRow",
    "StorageError",
    "Task",
    "open_repository",
]
