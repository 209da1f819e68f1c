-- usher store, SQLite schema v1. STRICT tables; ids are hyphenated UUID text, instants are
-- INTEGER microseconds since the Unix epoch (the precision PostgreSQL keeps), JSON is TEXT,
-- booleans are 0/1. Text compares by bytes (BINARY), as in PostgreSQL's "C" collation.

CREATE TABLE users (
    id                  TEXT PRIMARY KEY,
    email               TEXT,
    email_normalized    TEXT UNIQUE,
    email_verified      INTEGER NOT NULL DEFAULT 0 CHECK (email_verified IN (0, 1)),
    username            TEXT,
    username_normalized TEXT UNIQUE,
    phone               TEXT,
    given_name          TEXT,
    family_name         TEXT,
    name                TEXT,
    middle_name         TEXT,
    nickname            TEXT,
    birthdate           TEXT,
    locale              TEXT,
    zoneinfo            TEXT,
    picture             TEXT,
    attributes          TEXT NOT NULL DEFAULT '{}',
    status              TEXT NOT NULL
        CHECK (status IN ('active', 'disabled', 'password-reset-required')),
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    migration_method    TEXT CHECK (migration_method IN ('lazy', 'bulk', 'sync', 'registered')),
    migrated_at         INTEGER,
    migration_source    TEXT,
    legacy_record       TEXT,
    CHECK ((email IS NULL) = (email_normalized IS NULL)),
    CHECK ((username IS NULL) = (username_normalized IS NULL)),
    CHECK ((migration_method IS NULL) = (migrated_at IS NULL))
) STRICT;

-- Apart from users so the login bridge can re-hash without touching the user row.
CREATE TABLE credentials (
    user_id    TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    hash       TEXT NOT NULL,
    scheme     TEXT NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- The idempotency key of every job: one row per legacy identity that became a user.
CREATE TABLE ledger (
    source            TEXT NOT NULL,
    legacy_id         TEXT NOT NULL,
    user_id           TEXT NOT NULL REFERENCES users (id),
    system_of_record  TEXT NOT NULL CHECK (system_of_record IN ('legacy', 'new')),
    method            TEXT NOT NULL CHECK (method IN ('lazy', 'bulk', 'sync', 'registered')),
    migrated_at       INTEGER NOT NULL,
    record_checksum   TEXT NOT NULL,
    legacy_updated_at INTEGER,
    PRIMARY KEY (source, legacy_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX ledger_user_id ON ledger (user_id);

CREATE TABLE checkpoints (
    job         TEXT NOT NULL,
    source      TEXT NOT NULL,
    partition   INTEGER NOT NULL CHECK (partition >= 0),
    cursor      TEXT,
    until_key   TEXT,
    done        INTEGER NOT NULL DEFAULT 0 CHECK (done IN (0, 1)),
    read        INTEGER NOT NULL DEFAULT 0,
    migrated    INTEGER NOT NULL DEFAULT 0,
    skipped     INTEGER NOT NULL DEFAULT 0,
    updated     INTEGER NOT NULL DEFAULT 0,
    quarantined INTEGER NOT NULL DEFAULT 0,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (job, source, partition)
) STRICT, WITHOUT ROWID;

CREATE TABLE quarantine (
    source     TEXT NOT NULL,
    legacy_id  TEXT NOT NULL,
    reason     TEXT NOT NULL,
    field      TEXT,
    record     TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 1 CHECK (attempts >= 1),
    PRIMARY KEY (source, legacy_id)
) STRICT;

-- The audit log. Never a secret: no password, hash, token or full connection string.
CREATE TABLE events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,
    kind    TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail  TEXT NOT NULL DEFAULT '{}'
) STRICT;
CREATE INDEX events_kind_at ON events (kind, at);

-- Writes still owed to the other side (dual write). No foreign key: a delete owed to legacy
-- outlives the user it deleted.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id         TEXT NOT NULL,
    target          TEXT NOT NULL,
    op              TEXT NOT NULL,
    payload         TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    created_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX outbox_due ON outbox (next_attempt_at);
CREATE INDEX outbox_user_id ON outbox (user_id);
