-- Optional fields a user lost, or kept only as written, when migrated: a JSON array of
-- {"field", "reason"}, NULL when there were none. The partial index serves `usher warnings`.
ALTER TABLE users ADD COLUMN migration_warnings jsonb;
CREATE INDEX users_warned ON users (migration_source) WHERE migration_warnings IS NOT NULL;
