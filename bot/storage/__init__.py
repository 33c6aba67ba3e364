"""Storage: one `Repository` over SQLite (default) or PostgreSQL; `open_repository(settings)` opens it."""

from bot.storage.models import (
    CANCELLABLE_STATES,
    GUILD_SETTING_FIELDS,
    OPEN_STATES,
    RUNNING_STATES,
    GuildSettings,
    Jam,
    JamLine,
    Limits,
    NewTask,
    Refusal,
    SongRow,
    StorageError,
    Task,
)
from bot.storage.repository import Repository, open_repository

__all__ = [
    "CANCELLABLE_STATES",
    "GUILD_SETTING_FIELDS",
    "OPEN_STATES",
    "RUNNING_STATES",
    "GuildSettings",
    "Jam",
    "JamLine",
    "Limits",
    "NewTask",
    "Refusal",
    "Repository",
    "SongRow",
    "StorageError",
    "Task",
    "open_repository",
]
