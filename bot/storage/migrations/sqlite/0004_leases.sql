-- Leases, for several processes sharing one database (PostgreSQL in practice; SQLite gets the same
-- tables so one repository serves both): a named lease (one poller, one identify slot, …) and a
-- per-task lease on work a process has claimed. A lease not renewed before `until` may be taken over.

ALTER TABLE tasks ADD COLUMN lease_owner TEXT;
ALTER TABLE tasks ADD COLUMN lease_until REAL;
CREATE INDEX tasks_by_lease ON tasks (state, lease_until);

CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    until REAL NOT NULL
) STRICT;
