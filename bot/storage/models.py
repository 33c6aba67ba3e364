"""What the repository returns and takes: plain frozen dataclasses, state constants, row readers.

No SQL runs here; the column lists are shared by every area module so a row always maps onto its
dataclass the same way on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


class StorageError(Exception):
    """The database cannot be used; the message says why in one line."""


class DatabaseUnavailable(StorageError):
    """The database cannot be reached right now (restarting, connection cut, too many clients).

    What the bot was doing is in the database already, so callers ride it out: a background loop
    says so once and tries again with back-off; a member is told to try again in a moment.
    """


OPEN_STATES = ("queued", "reserved", "pending", "received", "delivering")
"""States of a task that has not reached its end (`delivered`, `failed` or `cancelled`)."""
RUNNING_STATES = ("reserved", "pending")
"""Taken a slot: being submitted, or submitted and waiting for the API."""
CANCELLABLE_STATES = ("queued", "reserved", "pending")


@dataclass(frozen=True, slots=True)
class Task:
    id: int
    api_task_id: str | None
    guild_id: int
    channel_id: int
    requester_id: int
    status_message_id: int | None
    action: str
    request: dict[str, Any]
    parent_song_id: str | None
    state: str
    quota_day: str
    cost: int
    refunded: bool
    result: dict[str, Any] | None
    error: str | None
    created_at: float
    submitted_at: float | None
    finished_at: float | None
    deadline_at: float
    jam_id: int | None = None
    credits: list[int] | None = None
    lease_owner: str | None = None
    """The cluster process working on this task (submitting, polling or delivering), if leased."""
    lease_until: float | None = None
    """When that lease runs out unless renewed; after it another process may take the task over."""
    delivery_failures: int = 0
    """Delivery attempts that failed on a transient fault; the next retry's backoff grows with it."""
    lease_epoch: int = 0
    """How many times the task has been claimed: the fencing token. A claim adds one; a write that
    finishes claimed work names the epoch it was claimed under, so a claim lost to another process
    (its holder stalled past the lease) cannot write anything."""
    status_holder: str | None = None
    """The process holding the command's interaction token, through which the status line is
    edited without spending the bot token's global REST budget; other processes leave the line to it."""
    status_until: float | None = None
    """Unix time until which `status_holder`'s claim stands (renewed while it lives and its token is fresh)."""
    progress: int | None = None
    """The generating song's last progress (percent) the poller read, for the status holder to show."""
    progress_at: float | None = None


@dataclass(frozen=True, slots=True)
class NewTask:
    guild_id: int
    channel_id: int
    requester_id: int
    action: str
    request: dict[str, Any]
    quota_day: str
    cost: int
    created_at: float
    deadline_at: float
    parent_song_id: str | None = None
    jam_id: int | None = None
    credits: list[int] | None = None


@dataclass(frozen=True, slots=True)
class Limits:
    """What a guild allows, resolved from its settings and the bot's defaults."""

    daily_allowance: int
    member_daily_cap: int | None
    max_running: int
    max_running_per_member: int
    max_queued: int
    monthly_budget: int | None = None
    """Credits the server may spend per UTC calendar month (`/settings monthly_budget`); None: no budget."""
    own_key: bool = False
    """The server pays with its own API key (its charges are marked so, `bot.storage.billing`)."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request was not accepted; nothing was charged."""

    reason: str  # "guild", "member", "budget" or "queue"


@dataclass(frozen=True, slots=True)
class GuildSettings:
    """A guild's own settings; `None` means "the bot's default"."""

    guild_id: int
    daily_allowance: int | None = None
    member_daily_cap: int | None = None
    default_model: str | None = None
    feed_channel_id: int | None = None
    allow_uploads: bool = True
    max_running: int | None = None
    max_running_per_member: int | None = None
    max_queued: int | None = None
    favourites_channel_id: int | None = None
    favourites_threshold: int | None = None
    stay_in_voice: bool = False
    language: str | None = None
    """Discord locale code of public messages (`/settings language:`); None: the server's preferred one."""


GUILD_SETTING_FIELDS = (
    "daily_allowance",
    "member_daily_cap",
    "default_model",
    "feed_channel_id",
    "allow_uploads",
    "max_running",
    "max_running_per_member",
    "max_queued",
    "favourites_channel_id",
    "favourites_threshold",
    "stay_in_voice",
    "language",
)

DEFAULT_FAVOURITES_THRESHOLD = 3
"""Stars a song needs before it is posted to the server's favourites channel, unless a manager set another."""


@dataclass(frozen=True, slots=True)
class Jam:
    id: int
    guild_id: int
    channel_id: int
    starter_id: int
    theme: str
    style: str
    model: str
    message_id: int | None
    state: str
    latest_song_id: str | None
    created_at: float


@dataclass(frozen=True, slots=True)
class JamLine:
    id: int
    author_id: int
    line: str


@dataclass(frozen=True, slots=True)
class SongRow:
    id: str
    task_id: int
    kind: str
    guild_id: int
    channel_id: int
    requester_id: int
    title: str
    prompt: str
    lyric: str
    duration: float | None
    audio_url: str | None
    image_url: str | None
    stems_url: str | None
    model: str | None
    seed: str | None
    parent_song_id: str | None
    action: str
    message_id: int | None
    created_at: float
    credits: list[int] | None = None


TASK_COLUMNS = (
    "id, api_task_id, guild_id, channel_id, requester_id, status_message_id, action, request, "
    "parent_song_id, state, quota_day, cost, refunded, result, error, created_at, submitted_at, "
    "finished_at, deadline_at, jam_id, credits, lease_owner, lease_until, delivery_failures, lease_epoch, "
    "status_holder, status_until, progress, progress_at"
)
SONG_COLUMNS = (
    "id, task_id, kind, guild_id, channel_id, requester_id, title, prompt, lyric, duration, audio_url, "
    "image_url, stems_url, model, seed, parent_song_id, action, message_id, created_at, credits"
)


def qualified(columns: str, table: str) -> str:
    """`a, b` → `t.a, t.b`: for statements that join another relation with the same column names."""
    return ", ".join(f"{table}.{column.strip()}" for column in columns.split(","))


JAM_COLUMNS = "id, guild_id, channel_id, starter_id, theme, style, model, message_id, state, latest_song_id, created_at"


def task_from_row(row: Sequence[Any]) -> Task:
    """A `tasks` row selected with `TASK_COLUMNS`: JSON decoded, 0/1 as bool."""
    values = list(row)
    values[7] = json.loads(values[7])
    values[12] = bool(values[12])
    values[13] = json.loads(values[13]) if values[13] is not None else None
    values[20] = json.loads(values[20]) if values[20] is not None else None
    return Task(*values)


def queued_task(task_id: int, new: NewTask) -> Task:
    """The row `enqueue_task` just inserted, without reading it back."""
    return Task(
        id=task_id,
        api_task_id=None,
        guild_id=new.guild_id,
        channel_id=new.channel_id,
        requester_id=new.requester_id,
        status_message_id=None,
        action=new.action,
        request=new.request,
        parent_song_id=new.parent_song_id,
        state="queued",
        quota_day=new.quota_day,
        cost=new.cost,
        refunded=False,
        result=None,
        error=None,
        created_at=new.created_at,
        submitted_at=None,
        finished_at=None,
        deadline_at=new.deadline_at,
        jam_id=new.jam_id,
        credits=new.credits,
    )


def song_from_row(row: Sequence[Any]) -> SongRow:
    """A `songs` row selected with `SONG_COLUMNS`."""
    values = list(row)
    values[19] = json.loads(values[19]) if values[19] is not None else None
    return SongRow(*values)


# -- features A: preferences, lyrics drafts, song copies ------------------------------------------

COPY_KINDS = ("wav", "video", "dm")
"""What `song_copies` remembers per song: the API's WAV file, its MP4, and the auto-DM sent."""


@dataclass(frozen=True, slots=True)
class Preferences:
    """A member's own defaults, the same in every server (`/prefer`)."""

    user_id: int
    auto_dm: bool = False
    model: str | None = None
    style_suffix: str = ""

    @property
    def is_default(self) -> bool:
        return not self.auto_dm and self.model is None and not self.style_suffix


@dataclass(frozen=True, slots=True)
class LyricsDraft:
    """Lyrics the API wrote for a member: shown with buttons that find them again by `id`.

    `jam_id` is set for a jam suggestion (`lyrics` then holds the suggested lines); `used_by`
    is the member who added a suggestion to the jam, so it is added once.
    """

    id: int
    guild_id: int
    channel_id: int
    user_id: int
    jam_id: int | None
    prompt: str
    title: str
    lyrics: str
    used_by: int | None
    created_at: float


@dataclass(frozen=True, slots=True)
class SongCopy:
    """A song in another form or place, remembered so the API is asked once: `wav` and `video`
    keep the file's URL (and, for a video, the message showing it); `dm` marks the auto-DM sent."""

    song_id: str
    kind: str
    url: str | None
    channel_id: int | None
    message_id: int | None
    created_at: float


@dataclass(frozen=True, slots=True)
class CreditLimits:
    """What a credit charge is checked against (a guild's `Limits`, the two numbers that matter)."""

    daily_allowance: int
    member_daily_cap: int | None
    monthly_budget: int | None = None
    own_key: bool = False
