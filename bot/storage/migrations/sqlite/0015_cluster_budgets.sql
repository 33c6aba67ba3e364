-- Status lines in a cluster (issue 19). A status line is edited through its command's interaction
-- token, which only the process that took the command holds (in memory); those edits do not count
-- against Discord's global REST limit, edits with the bot token do. `status_holder` names that
-- process and `status_until` how long its claim lasts (renewed while it lives and the token is
-- fresh): other processes leave the line to it. `progress` and `progress_at` are what the poller
-- last read for a generating song, so the holder can show it.
ALTER TABLE tasks ADD COLUMN status_holder TEXT;
ALTER TABLE tasks ADD COLUMN status_until REAL;
ALTER TABLE tasks ADD COLUMN progress INTEGER;
ALTER TABLE tasks ADD COLUMN progress_at REAL;
-- Claims whose holder stopped renewing them (it died) are looked for by every process; only
-- lines in flight are claimed (a holder gives its claim up once the line shows the end).
CREATE INDEX tasks_status_claims ON tasks (status_until) WHERE status_holder IS NOT NULL;
