-- Leases: of the processes that may run a job (the outbox's deliverers, the backfill's
-- workers), the one holding the job's lease works; another takes it once it expires.
CREATE TABLE leases (
    name       text PRIMARY KEY,
    holder     text NOT NULL,
    expires_at timestamptz NOT NULL
);
