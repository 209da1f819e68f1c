-- Users a backfill migrated, then removed again for a record with a lower key and the same
-- email or username (the lowest key wins, whichever partition wrote first).
ALTER TABLE checkpoints ADD COLUMN displaced INTEGER NOT NULL DEFAULT 0;
