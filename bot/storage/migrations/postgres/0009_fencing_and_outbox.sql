-- Fencing: every claim on a task (a promotion, a callback, a delivery, a takeover) adds one to
-- `lease_epoch`, and every write that finishes the claimed work names the epoch it was claimed
-- under. A process that stalled past its lease and lost the task to another writes nothing.
ALTER TABLE tasks ADD COLUMN lease_epoch INTEGER NOT NULL DEFAULT 0;
CREATE INDEX tasks_by_deadline ON tasks (state, deadline_at);

-- The outbox: what must follow a committed change (a delivered song's feed post, jam message and
-- auto-DM; a favourite's post), written in the same transaction as that change and then done
-- exactly once by whichever process claims it, fenced like tasks. `key` names the step, so the
-- same step is never queued twice.
CREATE TABLE outbox (
    id BIGSERIAL PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    guild_id BIGINT NOT NULL,
    task_id BIGINT,
    song_id TEXT,
    channel_id BIGINT,
    state TEXT NOT NULL DEFAULT 'ready',
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until DOUBLE PRECISION,
    lease_epoch INTEGER NOT NULL DEFAULT 0,
    created_at DOUBLE PRECISION NOT NULL,
    done_at DOUBLE PRECISION
);
CREATE INDEX outbox_due ON outbox (state, lease_until);
