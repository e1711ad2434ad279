-- Token buckets of the rate-limit plug, shared by every worker process on this data dir.
-- Append-only: never edit this file once landed; add 003_… instead.

CREATE TABLE rate_limits (
  key         TEXT PRIMARY KEY,
  tokens      REAL NOT NULL,
  updated_at  INTEGER NOT NULL,             -- ms since the epoch, the limiter's clock
  denied      INTEGER NOT NULL DEFAULT 0,   -- 1 once a take was refused, until one is allowed again
  full_at     INTEGER NOT NULL              -- when the bucket is full again; after that the row may be deleted
) WITHOUT ROWID;
CREATE INDEX rate_limits_full ON rate_limits (full_at);
