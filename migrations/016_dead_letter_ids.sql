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
-- Nor are ids retried before this ran, which the table no longer holds: `dlq retry` recorded each in the audit log.
INSERT INTO sqlite_sequence (name, seq)
  SELECT 'queue_dead', 0 WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'queue_dead');
UPDATE sqlite_sequence SET seq = MAX(seq, COALESCE((SELECT MAX(CAST(subject AS INTEGER)) FROM audit_log
  WHERE kind = 'dlq.retried' AND subject <> '' AND subject NOT GLOB '*[^0-9]*'), 0))
  WHERE name = 'queue_dead';
