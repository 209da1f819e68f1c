-- Reconciliation runs: what `usher reconcile` found each time, for the dashboard, the
-- cut-over gate and `usher_parity_ratio`. The report holds counts and legacy ids, never a
-- field's value, a password or a hash.
CREATE TABLE reconciliations (
    id          INTEGER PRIMARY KEY,
    source      TEXT NOT NULL,
    finished_at INTEGER NOT NULL,
    compared    INTEGER NOT NULL,
    identical   INTEGER NOT NULL,
    report      TEXT NOT NULL
) STRICT;
CREATE INDEX reconciliations_source ON reconciliations (source, id);
