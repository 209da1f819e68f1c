-- The outbox: writes owed to the other side (legacy, a provider), each a row written in the
-- same transaction as the change it copies, delivered at least once and in order per user.
-- No foreign key to users: a deletion's copy outlives the user. It replaces 0001's outbox,
-- which nothing ever wrote: that one had no state, no claim and no idempotency key.
DROP TABLE outbox;
CREATE TABLE outbox (
    id              bigserial PRIMARY KEY,
    user_id         uuid NOT NULL,
    kind            text NOT NULL,
    destination     text NOT NULL,
    payload         jsonb NOT NULL,
    idempotency_key text COLLATE "C" NOT NULL UNIQUE,
    state           text NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts        bigint NOT NULL DEFAULT 0,
    last_error      text,
    created_at      timestamptz NOT NULL,
    available_at    timestamptz NOT NULL,
    claimed_by      text,
    claimed_until   timestamptz,
    delivered_at    timestamptz
);
CREATE INDEX outbox_due ON outbox (state, available_at, id);
CREATE INDEX outbox_user ON outbox (user_id, id);
