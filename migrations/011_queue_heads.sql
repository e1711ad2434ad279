-- Each partition's oldest job, kept by triggers: a claim reads the heads in age order instead of grouping every
-- waiting job of the queue, so its cost follows the jobs in flight, not the backlog.
CREATE TABLE queue_heads (
  queue      TEXT NOT NULL,
  partition  TEXT NOT NULL,
  seq        INTEGER NOT NULL,
  PRIMARY KEY (queue, partition)
) WITHOUT ROWID;
CREATE INDEX queue_heads_age ON queue_heads (queue, seq);

INSERT INTO queue_heads (queue, partition, seq) SELECT queue, partition, MIN(seq) FROM queue_jobs GROUP BY queue, partition;

-- seq only grows (AUTOINCREMENT), so a new job becomes its partition's head only when the partition had none.
CREATE TRIGGER queue_heads_insert AFTER INSERT ON queue_jobs BEGIN
  INSERT INTO queue_heads (queue, partition, seq) VALUES (NEW.queue, NEW.partition, NEW.seq) ON CONFLICT DO NOTHING;
END;

CREATE TRIGGER queue_heads_delete AFTER DELETE ON queue_jobs BEGIN
  DELETE FROM queue_heads WHERE queue = OLD.queue AND partition = OLD.partition AND seq = OLD.seq;
  INSERT INTO queue_heads (queue, partition, seq)
    SELECT OLD.queue, OLD.partition, seq FROM queue_jobs WHERE queue = OLD.queue AND partition = OLD.partition ORDER BY seq LIMIT 1
    ON CONFLICT DO NOTHING;
END;
