-- Features A: member preferences (/prefer), lyrics drafts (/lyrics, /jam suggest), and song copies
-- remembered so the API is asked once (WAV, video) and a song is DMed once (auto_dm).

CREATE TABLE member_preferences (
    user_id INTEGER PRIMARY KEY,            -- a Discord user: the same preferences in every server
    auto_dm INTEGER NOT NULL DEFAULT 0 CHECK (auto_dm IN (0, 1)),
    model TEXT,                             -- NULL: the server's default
    style_suffix TEXT NOT NULL DEFAULT '',
    updated_at REAL NOT NULL
) STRICT;

CREATE TABLE lyrics_drafts (
    id INTEGER PRIMARY KEY,
    guild_id INTEGER NOT NULL,
    channel_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,               -- who asked (and was charged)
    jam_id INTEGER,                         -- set for a /jam suggest: `lyrics` holds the suggested lines
    prompt TEXT NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    lyrics TEXT NOT NULL,
    used_by INTEGER,                        -- who pressed Add these (a suggestion is added once)
    created_at REAL NOT NULL
) STRICT;

CREATE TABLE song_copies (
    song_id TEXT NOT NULL REFERENCES songs (id),
    kind TEXT NOT NULL CHECK (kind IN ('wav', 'video', 'dm')),
    url TEXT,                               -- the API's file (wav, video); NULL for a DM
    channel_id INTEGER,                     -- where the video (or the DM) was posted
    message_id INTEGER,
    created_at REAL NOT NULL,
    PRIMARY KEY (song_id, kind)
) STRICT;
