-- Failed delivery attempts per task, so the retry backoff keeps growing when another process (or
-- this one after a restart) makes the next attempt, instead of starting again at the first delay.
ALTER TABLE tasks ADD COLUMN delivery_failures INTEGER NOT NULL DEFAULT 0;
