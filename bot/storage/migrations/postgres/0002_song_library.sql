-- Song references (PostgreSQL): uploads become songs too (no task), and every message showing a song
-- is recorded so buttons, context menus and replies work on the original post and on /show re-posts.

ALTER TABLE songs ALTER COLUMN task_id DROP NOT NULL;
ALTER TABLE songs DROP CONSTRAINT songs_kind_check;
ALTER TABLE songs ADD CONSTRAINT songs_kind_check CHECK (kind IN ('song', 'stems', 'upload'));
CREATE INDEX songs_by_parent ON songs (parent_song_id);

CREATE TABLE song_messages (
    message_id BIGINT PRIMARY KEY,
    song_id TEXT NOT NULL REFERENCES songs (id),
    channel_id BIGINT NOT NULL
);

INSERT INTO song_messages (message_id, song_id, channel_id)
    SELECT message_id, id, channel_id FROM songs WHERE message_id IS NOT NULL;
