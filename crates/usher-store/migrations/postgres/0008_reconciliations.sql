-- Reconciliation runs: what `usher reconcile` found each time, for the dashboard, the
-- cut-over gate and `usher_parity_ratio`. The report holds counts and legacy ids, never a
-- field's value, a password or a hash.
CREATE TABLE reconciliations (
    id          bigserial PRIMARY KEY,
    source      text NOT NULL,
    finished_at timestamptz NOT NULL,
    compared    bigint NOT NULL,
    identical   bigint NOT NULL,
    report      jsonb NOT NULL
);
CREATE INDEX reconciliations_source ON reconciliations (source, id);
