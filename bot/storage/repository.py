"""The one repository interface: every area module composed into `Repository`, and how to open it.

`open_repository(settings)` is the entry point the composition root uses; `Repository.open(path)`
opens a SQLite file directly (tests, benchmarks, tools). The names below are re-exported so
`from bot.storage.repository import Task` keeps working beside `from bot.storage import Task`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bot.storage.cluster import ClusterRepository
from bot.storage.community import CommunityRepository
from bot.storage.contests import ContestRepository
from bot.storage.database import Database
from bot.storage.favourites import FavouriteRepository
from bot.storage.features import FeatureRepository
from bot.storage.finish import FinishRepository
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
from bot.storage.playlists import PartyModes, Playlist, PlaylistRepository
from bot.storage.postgres import PostgresDatabase
from bot.storage.queue import QueueRepository
from bot.storage.songs import SongRepository
from bot.storage.sqlite import SqliteDatabase
from bot.storage.status_lines import StatusRepository
from bot.storage.tasks import TaskRepository
from bot.storage.web import WebRepository

if TYPE_CHECKING:
    from bot.core.settings import Settings

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
    "PartyModes",
    "Playlist",
    "Refusal",
    "Repository",
    "SongRow",
    "StorageError",
    "Task",
    "open_repository",
]


class Repository(
    QueueRepository,
    TaskRepository,
    SongRepository,
    CommunityRepository,
    FeatureRepository,
    ClusterRepository,
    FavouriteRepository,
    ContestRepository,
    WebRepository,
    StatusRepository,
    FinishRepository,
    PlaylistRepository,
):
    """The bot's database, whichever backend holds it: quotas, tasks, songs, settings, jams, stars.

    Methods return plain dataclasses and run portable SQL through the backend-neutral helpers of
    `RepositoryBase`; see `bot.storage.sqlite` and `bot.storage.postgres` for what each backend
    guarantees.
    """

    def __init__(self, database: Database) -> None:
        super().__init__(database)
        self._init_queue()
        self._init_tasks()
        self._init_community()

    @classmethod
    async def open(cls, path: Path | str) -> Repository:
        """Open a SQLite database file (creating folders as needed) and apply pending migrations."""
        return cls(await SqliteDatabase.open(path))

    @classmethod
    async def connect(cls, url: str, *, pool_size: int = 10, statement_cache_size: int = 100) -> Repository:
        """Connect to PostgreSQL (`postgresql://…`) and apply pending migrations (serialized across
        processes starting together by an advisory lock). `pool_size` connections at most;
        `statement_cache_size=0` for PgBouncer in transaction mode."""
        return cls(await PostgresDatabase.open(url, max_size=pool_size, statement_cache_size=statement_cache_size))


async def open_repository(settings: Settings) -> Repository:
    """The repository the settings name: PostgreSQL when `DATABASE_URL` is set, else SQLite at
    `DATABASE_PATH` (the default)."""
    if settings.database_url:
        return await Repository.connect(
            str(settings.database_url),
            pool_size=settings.database_pool_size,
            statement_cache_size=settings.database_statement_cache_size,
        )
    return await Repository.open(settings.database_path)
