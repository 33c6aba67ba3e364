-- Issue 21, paying for songs. A server's own Producer API key (encrypted with SECRET_KEY: the
-- column holds a Fernet token, never the key, and `api_key_hint` only its last four characters),
-- its monthly budget and alerts channel, and the episode of a refused key (`key_refused_at`: set
-- once when the API refuses the key, cleared when a manager saves a key again).
CREATE TABLE guild_billing (
    guild_id INTEGER PRIMARY KEY,
    api_key TEXT,
    api_key_hint TEXT,
    monthly_budget INTEGER,
    alerts_channel_id INTEGER,
    key_refused_at REAL,
    key_refused_code TEXT
) STRICT;

-- Songs per day for members with a role; a member's cap is the highest of their roles' caps.
CREATE TABLE role_caps (
    guild_id INTEGER NOT NULL,
    role_id INTEGER NOT NULL,
    songs_per_day INTEGER NOT NULL,
    PRIMARY KEY (guild_id, role_id)
) STRICT;

-- Credits per server per calendar month (UTC), charged in the same transaction as the daily quota
-- and given back by refunds: the budget check reads it, and `alerted` is the highest budget alert
-- (50, 75, 90, 100 %) already queued this month, so each is sent once across processes.
-- `own_key_used` is the part paid with the server's own key.
CREATE TABLE monthly_usage (
    guild_id INTEGER NOT NULL,
    month TEXT NOT NULL,
    used INTEGER NOT NULL DEFAULT 0,
    own_key_used INTEGER NOT NULL DEFAULT 0,
    alerted INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (guild_id, month)
) STRICT;

-- Tasks charged while their server had its own key (so a refund gives back the right share).
CREATE TABLE own_key_tasks (
    task_id INTEGER PRIMARY KEY
) STRICT;

-- Credits for what is not a song (lyrics), per member, day and action, for /usage; songs are
-- counted from their tasks.
CREATE TABLE credit_usage (
    guild_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    day TEXT NOT NULL,
    action TEXT NOT NULL,
    used INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (guild_id, user_id, day, action)
) STRICT;

-- /usage reads a server's tasks by day.
CREATE INDEX tasks_by_guild_day ON tasks (guild_id, quota_day);
