-- Issue 10: a channel can host one jam at a time, not one jam forever. A finished jam is `ended`
-- when the next one starts in its channel; only jams not ended hold their channel. SQLite cannot
-- drop a column's UNIQUE, so the table is rebuilt (foreign keys are off while migrations run).
CREATE TABLE jams_next (
    id INTEGER PRIMARY KEY,
    guild_id INTEGER NOT NULL,
    channel_id INTEGER NOT NULL,            -- the jam's thread (or the channel, where threads are not allowed)
    starter_id INTEGER NOT NULL,
    theme TEXT NOT NULL,
    style TEXT NOT NULL DEFAULT '',
    model TEXT NOT NULL,
    message_id INTEGER,                     -- the jam message showing the lyrics so far
    state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'finished', 'ended')),
    latest_song_id TEXT,
    created_at REAL NOT NULL
) STRICT;

INSERT INTO jams_next (id, guild_id, channel_id, starter_id, theme, style, model, message_id, state, latest_song_id,
                       created_at)
SELECT id, guild_id, channel_id, starter_id, theme, style, model, message_id, state, latest_song_id, created_at
FROM jams;

DROP TABLE jams;
ALTER TABLE jams_next RENAME TO jams;

CREATE UNIQUE INDEX jams_current_in_channel ON jams (channel_id) WHERE state <> 'ended';
