-- Song references: uploads become songs too (no task), and every message showing a song is recorded
-- so buttons, context menus and replies work on the original post and on /show re-posts alike.

CREATE TABLE songs_v2 (
    id TEXT PRIMARY KEY,
    task_id INTEGER REFERENCES tasks (id),  -- NULL for a member's uploaded audio
    kind TEXT NOT NULL DEFAULT 'song' CHECK (kind IN ('song', 'stems', 'upload')),
    guild_id INTEGER NOT NULL,
    channel_id INTEGER NOT NULL,
    requester_id INTEGER NOT NULL,          -- who asked for it (or uploaded it)
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
    message_id INTEGER,
    created_at REAL NOT NULL
) STRICT;

INSERT INTO songs_v2 SELECT id, task_id, kind, guild_id, channel_id, requester_id, title, prompt, lyric, duration,
    audio_url, image_url, stems_url, model, seed, parent_song_id, action, message_id, created_at FROM songs;
DROP TABLE songs;
ALTER TABLE songs_v2 RENAME TO songs;
CREATE INDEX songs_by_guild ON songs (guild_id, created_at);
CREATE INDEX songs_by_parent ON songs (parent_song_id);

CREATE TABLE song_messages (
    message_id INTEGER PRIMARY KEY,
    song_id TEXT NOT NULL REFERENCES songs (id),
    channel_id INTEGER NOT NULL
) STRICT;

INSERT INTO song_messages (message_id, song_id, channel_id)
    SELECT message_id, id, channel_id FROM songs WHERE message_id IS NOT NULL;
