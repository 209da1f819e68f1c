-- Targets: the identity providers that took a user (their lazy-migration hook verified the
-- user through usher, or an export carried them), so status, reports and reconciliation cover
-- users who moved on into a provider.
CREATE TABLE user_targets (
    user_id  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    target   text COLLATE "C" NOT NULL,
    taken_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, target)
);
CREATE INDEX user_targets_target ON user_targets (target);
