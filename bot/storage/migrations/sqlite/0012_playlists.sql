-- Playlists (issue 23): members' lists of the server's songs, and how the server's listening party plays.

-- A server's playlists. Names are unique per server, whatever their case, so `/playlist show Chill`
-- means one list; `shared` lets any member edit it (a personal one: only its owner).
CREATE TABLE playlists (
    id INTEGER PRIMARY KEY,
    guild_id INTEGER NOT NULL,
    owner_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,                 -- the name in lower case
    shared INTEGER NOT NULL DEFAULT 0 CHECK (shared IN (0, 1)),
    created_at REAL NOT NULL,
    UNIQUE (guild_id, name_key)
) STRICT;

-- A song in a playlist, once at most; `position` orders them (1 = first, no gaps).
CREATE TABLE playlist_songs (
    playlist_id INTEGER NOT NULL REFERENCES playlists (id) ON DELETE CASCADE,
    song_id TEXT NOT NULL REFERENCES songs (id),
    position INTEGER NOT NULL,
    added_by INTEGER NOT NULL,
    added_at REAL NOT NULL,
    PRIMARY KEY (playlist_id, song_id)
) STRICT;
CREATE INDEX playlist_songs_in_order ON playlist_songs (playlist_id, position);

-- How a server's listening party plays (kept across restarts; the party itself is not).
CREATE TABLE party_modes (
    guild_id INTEGER PRIMARY KEY,
    loop_mode TEXT NOT NULL DEFAULT 'off' CHECK (loop_mode IN ('off', 'song', 'queue')),
    radio_source TEXT CHECK (radio_source IN ('top', 'new', 'starred', 'member', 'jam')),
    radio_owner_id INTEGER,                 -- who started the radio: its songs are theirs to skip
    radio_member_id INTEGER                 -- whose songs or stars (sources member and starred)
) STRICT;

-- A song's loudness (EBU R128), measured the first time it plays to its end in a listening party: later
-- plays bring it to the target with a plain gain instead of ffmpeg's costlier single-pass normaliser.
CREATE TABLE song_loudness (
    song_id TEXT PRIMARY KEY REFERENCES songs (id),
    integrated REAL NOT NULL,             -- LUFS
    true_peak REAL NOT NULL,              -- dBTP
    measured_at REAL NOT NULL
) STRICT;

ALTER TABLE guild_settings ADD COLUMN stay_in_voice INTEGER NOT NULL DEFAULT 0 CHECK (stay_in_voice IN (0, 1));
