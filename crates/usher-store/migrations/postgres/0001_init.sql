-- usher store, PostgreSQL schema v1.
-- Identifier-like text (normalized email and username, sources, legacy ids) uses the "C"
-- collation: byte order, the same as SQLite's BINARY and Rust's str, and faster btrees.

CREATE TABLE users (
    id                  uuid PRIMARY KEY,
    email               text,
    email_normalized    text COLLATE "C" UNIQUE,
    email_verified      boolean NOT NULL DEFAULT false,
    username            text,
    username_normalized text COLLATE "C" UNIQUE,
    phone               text,
    given_name          text,
    family_name         text,
    name                text,
    middle_name         text,
    nickname            text,
    birthdate           date,
    locale              text,
    zoneinfo            text,
    picture             text,
    attributes          jsonb NOT NULL DEFAULT '{}',
    status              text NOT NULL
        CHECK (status IN ('active', 'disabled', 'password-reset-required')),
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    migration_method    text CHECK (migration_method IN ('lazy', 'bulk', 'sync', 'registered')),
    migrated_at         timestamptz,
    migration_source    text,
    legacy_record       jsonb,
    CHECK ((email IS NULL) = (email_normalized IS NULL)),
    CHECK ((username IS NULL) = (username_normalized IS NULL)),
    CHECK ((migration_method IS NULL) = (migrated_at IS NULL))
);

-- Apart from users so the login bridge can re-hash without touching (or locking) the user row.
CREATE TABLE credentials (
    user_id    uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    hash       text NOT NULL,
    scheme     text NOT NULL,
    updated_at timestamptz NOT NULL
);

-- The idempotency key of every job: one row per legacy identity that became a user.
CREATE TABLE ledger (
    source            text COLLATE "C" NOT NULL,
    legacy_id         text COLLATE "C" NOT NULL,
    user_id           uuid NOT NULL REFERENCES users (id),
    system_of_record  text NOT NULL CHECK (system_of_record IN ('legacy', 'new')),
    method            text NOT NULL CHECK (method IN ('lazy', 'bulk', 'sync', 'registered')),
    migrated_at       timestamptz NOT NULL,
    record_checksum   text NOT NULL,
    legacy_updated_at timestamptz,
    PRIMARY KEY (source, legacy_id)
);
CREATE INDEX ledger_user_id ON ledger (user_id);

CREATE TABLE checkpoints (
    job         text NOT NULL,
    source      text NOT NULL,
    partition   integer NOT NULL CHECK (partition >= 0),
    cursor      jsonb,
    until_key   jsonb,
    done        boolean NOT NULL DEFAULT false,
    read        bigint NOT NULL DEFAULT 0,
    migrated    bigint NOT NULL DEFAULT 0,
    skipped     bigint NOT NULL DEFAULT 0,
    updated     bigint NOT NULL DEFAULT 0,
    quarantined bigint NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (job, source, partition)
);

CREATE TABLE quarantine (
    source     text COLLATE "C" NOT NULL,
    legacy_id  text COLLATE "C" NOT NULL,
    reason     text NOT NULL,
    field      text,
    record     jsonb NOT NULL,
    first_seen timestamptz NOT NULL,
    last_seen  timestamptz NOT NULL,
    attempts   integer NOT NULL DEFAULT 1 CHECK (attempts >= 1),
    PRIMARY KEY (source, legacy_id)
);

-- The audit log. Never a secret: no password, hash, token or full connection string.
CREATE TABLE events (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at      timestamptz NOT NULL,
    kind    text NOT NULL,
    subject text NOT NULL,
    detail  jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX events_kind_at ON events (kind, at);

-- Writes still owed to the other side (dual write). No foreign key: a delete owed to legacy
-- outlives the user it deleted.
CREATE TABLE outbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id         uuid NOT NULL,
    target          text NOT NULL,
    op              text NOT NULL,
    payload         jsonb NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    last_error      text,
    created_at      timestamptz NOT NULL
);
CREATE INDEX outbox_due ON outbox (next_attempt_at);
CREATE INDEX outbox_user_id ON outbox (user_id);
