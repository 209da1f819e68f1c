-- The outbox: writes owed to the other side (legacy, a provider), each a row written in the
-- same transaction as the change it copies, delivered at least once and in order per user.
-- No foreign key to users: a deletion's copy outlives the user. It replaces 0001's outbox,
-- which nothing ever wrote: that one had no state, no claim and no idempotency key.
DROP TABLE outbox;
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id         TEXT NOT NULL,
    kind            TEXT NOT NULL,
    destination     TEXT NOT NULL,
    payload         TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    state           TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    available_at    INTEGER NOT NULL,
    claimed_by      TEXT,
    claimed_until   INTEGER,
    delivered_at    INTEGER
) STRICT;
CREATE INDEX outbox_due ON outbox (state, available_at, id);
CREATE INDEX outbox_user ON outbox (user_id, id);
