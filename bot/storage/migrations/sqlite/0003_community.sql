-- Per-guild settings, per-member daily use, a queue of charged tasks waiting for a slot, cancelling,
-- and community jams. `tasks` is rebuilt to add the 'queued' and 'cancelled' states and to let the
-- callback secret be made at submission time (a queued task may be submitted after a restart).

CREATE TABLE guild_settings (
    guild_id INTEGER PRIMARY KEY,
    daily_allowance INTEGER CHECK (daily_allowance >= 0),          -- NULL: GUILD_DAILY_QUOTA; set by the bot owner
    member_daily_cap INTEGER CHECK (member_daily_cap >= 0),        -- NULL: no per-member cap
    default_model TEXT,
    feed_channel_id INTEGER,
    allow_uploads INTEGER NOT NULL DEFAULT 1 CHECK (allow_uploads IN (0, 1)),
    max_running INTEGER CHECK (max_running >= 1),
    max_running_per_member INTEGER CHECK (max_running_per_member >= 1),
    max_queued INTEGER CHECK (max_queued >= 0)
) STRICT;

CREATE TABLE member_usage (
    guild_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    day TEXT NOT NULL,
    used INTEGER NOT NULL DEFAULT 0 CHECK (used >= 0),
    PRIMARY KEY (guild_id, user_id, day)
) STRICT;

CREATE TABLE tasks_v3 (
    id INTEGER PRIMARY KEY,
    secret_hash TEXT UNIQUE,                -- set when the task is submitted
    api_task_id TEXT UNIQUE,
    guild_id INTEGER NOT NULL,
    channel_id INTEGER NOT NULL,
    requester_id INTEGER NOT NULL,
    status_message_id INTEGER,
    action TEXT NOT NULL,
    request TEXT NOT NULL,
    parent_song_id TEXT,
    state TEXT NOT NULL CHECK (state IN
        ('queued', 'reserved', 'pending', 'received', 'delivering', 'delivered', 'failed', 'cancelled')),
    quota_day TEXT NOT NULL,
    cost INTEGER NOT NULL CHECK (cost >= 0),
    refunded INTEGER NOT NULL DEFAULT 0 CHECK (refunded IN (0, 1)),
    result TEXT,
    error TEXT,
    created_at REAL NOT NULL,
    submitted_at REAL,
    finished_at REAL,
    deadline_at REAL NOT NULL,
    jam_id INTEGER,
    credits TEXT                            -- JSON list of user ids credited on the song (jams)
) STRICT;

INSERT INTO tasks_v3 (id, secret_hash, api_task_id, guild_id, channel_id, requester_id, status_message_id, action,
    request, parent_song_id, state, quota_day, cost, refunded, result, error, created_at, submitted_at, finished_at,
    deadline_at)
SELECT id, secret_hash, api_task_id, guild_id, channel_id, requester_id, status_message_id, action, request,
    parent_song_id, state, quota_day, cost, refunded, result, error, created_at, submitted_at, finished_at, deadline_at
FROM tasks;
DROP TABLE tasks;
ALTER TABLE tasks_v3 RENAME TO tasks;
CREATE INDEX tasks_by_state ON tasks (state, submitted_at);
CREATE INDEX tasks_by_guild_state ON tasks (guild_id, state, id);

ALTER TABLE songs ADD COLUMN credits TEXT;  -- JSON list of user ids, for songs written together

CREATE TABLE jams (
    id INTEGER PRIMARY KEY,
    guild_id INTEGER NOT NULL,
    channel_id INTEGER NOT NULL UNIQUE,     -- the jam's thread (or the channel, where threads are not allowed)
    starter_id INTEGER NOT NULL,
    theme TEXT NOT NULL,
    style TEXT NOT NULL DEFAULT '',
    model TEXT NOT NULL,
    message_id INTEGER,                     -- the jam message showing the lyrics so far
    state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'finished')),
    latest_song_id TEXT,
    created_at REAL NOT NULL
) STRICT;

CREATE TABLE jam_lines (
    id INTEGER PRIMARY KEY,
    jam_id INTEGER NOT NULL REFERENCES jams (id),
    author_id INTEGER NOT NULL,
    line TEXT NOT NULL,
    created_at REAL NOT NULL
) STRICT;

CREATE INDEX jam_lines_by_jam ON jam_lines (jam_id, id);
