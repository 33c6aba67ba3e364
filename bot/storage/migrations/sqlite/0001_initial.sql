-- Quotas, tasks and songs. One row per guild per UTC day; one row per API task; one per song.

CREATE TABLE quota_usage (
    guild_id INTEGER NOT NULL,
    day TEXT NOT NULL,                      -- UTC date, YYYY-MM-DD
    used INTEGER NOT NULL DEFAULT 0 CHECK (used >= 0),
    PRIMARY KEY (guild_id, day)
) STRICT;

CREATE TABLE tasks (
    id INTEGER PRIMARY KEY,
    secret_hash TEXT NOT NULL UNIQUE,       -- sha256 of the callback path secret; the secret itself is not stored
    api_task_id TEXT UNIQUE,                -- NULL until the API answers the submission
    guild_id INTEGER NOT NULL,
    channel_id INTEGER NOT NULL,
    requester_id INTEGER NOT NULL,
    status_message_id INTEGER,
    action TEXT NOT NULL,
    request TEXT NOT NULL,                  -- the JSON body sent, without callback_url
    parent_song_id TEXT,
    state TEXT NOT NULL CHECK (state IN ('reserved', 'pending', 'received', 'delivering', 'delivered', 'failed')),
    quota_day TEXT NOT NULL,
    cost INTEGER NOT NULL CHECK (cost >= 0),
    refunded INTEGER NOT NULL DEFAULT 0 CHECK (refunded IN (0, 1)),
    result TEXT,                            -- the callback body or the task record's response, as received
    error TEXT,                             -- what the requester was told when it failed
    created_at REAL NOT NULL,
    submitted_at REAL,
    finished_at REAL,
    deadline_at REAL NOT NULL
) STRICT;

CREATE INDEX tasks_by_state ON tasks (state, submitted_at);

CREATE TABLE songs (
    id TEXT PRIMARY KEY,                    -- the API's song id (stems bundles: '<task id>:stems')
    task_id INTEGER NOT NULL REFERENCES tasks (id),
    kind TEXT NOT NULL DEFAULT 'song' CHECK (kind IN ('song', 'stems')),
    guild_id INTEGER NOT NULL,
    channel_id INTEGER NOT NULL,
    requester_id INTEGER NOT NULL,
    title TEXT NOT NULL,
    prompt TEXT NOT NULL DEFAULT '',
    lyric TEXT NOT NULL DEFAULT '',
    duration REAL,
    audio_url TEXT,
    image_url TEXT,
    stems_url TEXT,
    model TEXT,
    seed TEXT,
    parent_song_id TEXT,
    action TEXT NOT NULL,
    message_id INTEGER,                     -- the delivered message; NULL until posted
    created_at REAL NOT NULL
) STRICT;

CREATE INDEX songs_by_guild ON songs (guild_id, created_at);

CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;
