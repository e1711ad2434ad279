-- Dead letters' ids are never used twice: without AUTOINCREMENT SQLite gave a retried letter's id to the next one,
-- and `dlq retry <id>` typed again from an old list re-queued an unrelated job.
CREATE TABLE queue_dead_new (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  queue      TEXT NOT NULL,
  job_id     TEXT NOT NULL,
  partition  TEXT NOT NULL,
  payload    TEXT NOT NULL,
  attempts   INTEGER NOT NULL,
  error      TEXT NOT NULL,
  dead_at    TEXT NOT NULL
);
INSERT INTO queue_dead_new (id, queue, job_id, partition, payload, attempts, error, dead_at)
  SELECT id, queue, job_id, partition, payload, attempts, error, dead_at FROM queue_dead;
DROP TABLE queue_dead;
ALTER TABLE queue_dead_new RENAME TO queue_dead;
