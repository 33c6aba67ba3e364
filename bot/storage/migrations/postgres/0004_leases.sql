-- Leases (PostgreSQL), for several processes sharing one database: a named lease (one poller, one
-- identify slot, …) and a per-task lease on work a process has claimed (submitting, polling,
-- delivering). A lease that is not renewed before `until` may be taken by another process.

ALTER TABLE tasks ADD COLUMN lease_owner TEXT;
ALTER TABLE tasks ADD COLUMN lease_until DOUBLE PRECISION;
CREATE INDEX tasks_by_lease ON tasks (state, lease_until);

CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    until DOUBLE PRECISION NOT NULL
);
