-- Favourites (stars, a favourites channel) and search by words over the song library (PostgreSQL).

-- One star per member per song. guild_id is kept so a server's most starred songs rank without a join.
CREATE TABLE song_stars (
    song_id TEXT NOT NULL REFERENCES songs (id),
    user_id BIGINT NOT NULL,
    guild_id BIGINT NOT NULL,
    starred_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (song_id, user_id)
);
CREATE INDEX song_stars_by_guild ON song_stars (guild_id, starred_at);

-- A song posted to its server's favourites channel. The primary key is the claim that makes the post
-- happen once, however many members star it at the same moment; message_id is set once it is posted.
CREATE TABLE favourite_posts (
    song_id TEXT PRIMARY KEY REFERENCES songs (id),
    guild_id BIGINT NOT NULL,
    channel_id BIGINT NOT NULL,
    message_id BIGINT,
    posted_at DOUBLE PRECISION NOT NULL
);

ALTER TABLE guild_settings ADD COLUMN favourites_channel_id BIGINT;
ALTER TABLE guild_settings ADD COLUMN favourites_threshold INTEGER CHECK (favourites_threshold >= 1);

-- Words of every song, kept by PostgreSQL itself: title (weight A), prompt or style (B), lyrics (C),
-- with the 'simple' configuration (no stemming, any language), so prefix queries such as 'christ:*'
-- match what members type. The API's placeholder title "Untitled" is not indexed.
ALTER TABLE songs ADD COLUMN search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('simple', CASE WHEN title = 'Untitled' THEN '' ELSE title END), 'A')
    || setweight(to_tsvector('simple', prompt), 'B')
    || setweight(to_tsvector('simple', lyric), 'C')
) STORED;
CREATE INDEX songs_search ON songs USING GIN (search);
