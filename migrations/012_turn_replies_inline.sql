-- A turn's replies move onto its dedupe row: a turn writes one row there instead of one plus a row per reply in
-- turn_replies (with its two indexes), inside the write lock every process shares.
ALTER TABLE processed_events ADD COLUMN replies TEXT NOT NULL DEFAULT '[]';

UPDATE processed_events SET replies = (
  SELECT json_group_array(json_object('queue', t.queue, 'partition', t.partition, 'reply', json(t.reply)))
  FROM (SELECT queue, partition, reply FROM turn_replies WHERE dedupe_key = processed_events.dedupe_key ORDER BY rowid) AS t
)
WHERE dedupe_key IN (SELECT dedupe_key FROM turn_replies);

DROP TABLE turn_replies;
