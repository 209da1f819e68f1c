-- Records a backfill linked to users another source had brought (the same verified email).
ALTER TABLE checkpoints ADD COLUMN linked INTEGER NOT NULL DEFAULT 0;
