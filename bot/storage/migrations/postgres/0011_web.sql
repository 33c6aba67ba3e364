-- Issue 22, the web gallery: a server may turn its gallery off (/settings web_gallery), and a song's
-- requester (or a manager) may share one song by a public link until they revoke it. One link per
-- song: sharing again gives the same link; a revoked link is gone for good (a new share makes a new one).
ALTER TABLE guild_settings ADD COLUMN web_gallery INTEGER NOT NULL DEFAULT 1 CHECK (web_gallery IN (0, 1));

CREATE TABLE song_shares (
    song_id TEXT PRIMARY KEY REFERENCES songs (id),
    token TEXT NOT NULL UNIQUE,
    guild_id BIGINT NOT NULL,
    shared_by BIGINT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL
);

CREATE INDEX songs_by_requester ON songs (guild_id, requester_id, created_at);

-- The song page's jam chain: the songs of one jam.
CREATE INDEX tasks_by_jam ON tasks (jam_id);

-- Which channels a server's songs are in (Visibility, per gallery page), read from the index alone.
CREATE INDEX songs_by_channel ON songs (guild_id, channel_id);
