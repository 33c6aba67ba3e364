-- Song contests (issue 24): a themed challenge with a submission phase, a vote and results.
-- `due_at` is the contest's timer: the end of the phase it is in. Every process's housekeeping
-- looks for open contests past it; the one that leases the row (lease_until by the database's
-- clock, lease_epoch as the fencing token) changes the phase, and the announcement is an outbox step.
CREATE TABLE contests (
    id INTEGER PRIMARY KEY,
    guild_id INTEGER NOT NULL,
    channel_id INTEGER NOT NULL,
    starter_id INTEGER NOT NULL,
    theme TEXT NOT NULL,
    rules TEXT NOT NULL DEFAULT '',
    max_entries INTEGER NOT NULL DEFAULT 1 CHECK (max_entries >= 1),
    phase TEXT NOT NULL DEFAULT 'submitting'
        CHECK (phase IN ('submitting', 'voting', 'finished', 'cancelled')),
    started_at REAL NOT NULL,
    submit_until REAL NOT NULL,
    vote_seconds REAL NOT NULL,
    vote_until REAL NOT NULL,
    voting_started_at REAL,
    due_at REAL NOT NULL,
    message_id INTEGER,
    vote_message_id INTEGER,
    results_message_id INTEGER,
    event_id INTEGER,
    event_note TEXT,
    ended_at REAL,
    lease_owner TEXT,
    lease_until REAL,
    lease_epoch INTEGER NOT NULL DEFAULT 0
) STRICT;
-- One open contest per channel.
CREATE UNIQUE INDEX contests_open_per_channel ON contests (channel_id) WHERE phase IN ('submitting', 'voting');
CREATE INDEX contests_due ON contests (phase, due_at);
CREATE INDEX contests_by_guild ON contests (guild_id, ended_at);

-- An entry is a reference to a song, not a copy. `place` and `votes` are written with the results.
CREATE TABLE contest_entries (
    contest_id INTEGER NOT NULL REFERENCES contests (id) ON DELETE CASCADE,
    song_id TEXT NOT NULL,
    member_id INTEGER NOT NULL,
    submitted_at REAL NOT NULL,
    votes INTEGER,
    place INTEGER,
    PRIMARY KEY (contest_id, song_id)
) STRICT;
CREATE INDEX contest_entries_by_member ON contest_entries (contest_id, member_id);

-- One vote per member per contest, changeable until the results (the primary key).
CREATE TABLE contest_votes (
    contest_id INTEGER NOT NULL REFERENCES contests (id) ON DELETE CASCADE,
    voter_id INTEGER NOT NULL,
    song_id TEXT NOT NULL,
    voted_at REAL NOT NULL,
    PRIMARY KEY (contest_id, voter_id)
) STRICT;
