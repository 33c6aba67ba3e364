-- Favourites (stars, a favourites channel) and search by words over the song library.

-- One star per member per song. guild_id is kept so a server's most starred songs rank without a join.
CREATE TABLE song_stars (
    song_id TEXT NOT NULL REFERENCES songs (id),
    user_id INTEGER NOT NULL,
    guild_id INTEGER NOT NULL,
    starred_at REAL NOT NULL,
    PRIMARY KEY (song_id, user_id)
) STRICT;
CREATE INDEX song_stars_by_guild ON song_stars (guild_id, starred_at);

-- A song posted to its server's favourites channel. The primary key is the claim that makes the post
-- happen once, however many members star it at the same moment; message_id is set once it is posted.
CREATE TABLE favourite_posts (
    song_id TEXT PRIMARY KEY REFERENCES songs (id),
    guild_id INTEGER NOT NULL,
    channel_id INTEGER NOT NULL,
    message_id INTEGER,
    posted_at REAL NOT NULL
) STRICT;

ALTER TABLE guild_settings ADD COLUMN favourites_channel_id INTEGER;
ALTER TABLE guild_settings ADD COLUMN favourites_threshold INTEGER CHECK (favourites_threshold >= 1);

-- Words of every song: title, prompt (or style) and lyrics, kept in step with `songs` by triggers.
-- (A later migration that rebuilds `songs` drops these triggers with it and must create them again.)
-- The API's placeholder title "Untitled" is not indexed: searching for it would match every
-- inspiration-mode song. Diacritics are folded, so "cafe" finds "café".
CREATE VIRTUAL TABLE songs_fts USING fts5 (
    song_id UNINDEXED, title, prompt, lyric, tokenize = 'unicode61 remove_diacritics 2'
);

INSERT INTO songs_fts (song_id, title, prompt, lyric)
    SELECT id, CASE WHEN title = 'Untitled' THEN '' ELSE title END, prompt, lyric FROM songs WHERE kind != 'stems';

CREATE TRIGGER songs_fts_insert AFTER INSERT ON songs WHEN new.kind != 'stems' BEGIN
    INSERT INTO songs_fts (song_id, title, prompt, lyric)
        VALUES (new.id, CASE WHEN new.title = 'Untitled' THEN '' ELSE new.title END, new.prompt, new.lyric);
END;

CREATE TRIGGER songs_fts_update AFTER UPDATE OF title, prompt, lyric ON songs WHEN new.kind != 'stems' BEGIN
    DELETE FROM songs_fts WHERE song_id = old.id;
    INSERT INTO songs_fts (song_id, title, prompt, lyric)
        VALUES (new.id, CASE WHEN new.title = 'Untitled' THEN '' ELSE new.title END, new.prompt, new.lyric);
END;

CREATE TRIGGER songs_fts_delete AFTER DELETE ON songs BEGIN
    DELETE FROM songs_fts WHERE song_id = old.id;
END;
