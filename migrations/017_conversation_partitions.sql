-- A conversation's partition no longer names the connector account (`platform:conversation`, not
-- `platform:account:conversation`): jobs queued by an earlier build move to the partition new jobs of their
-- conversation take, or both would run side by side and a conversation's replies could overtake each other.
-- An API request's own partition keeps its suffix (`:<event id>`); a notice to an owner kept the account.
UPDATE queue_jobs
  SET partition = json_extract(payload, '$.platform') || ':' || json_extract(payload, '$.conversation.id')
    || substr(partition, length(json_extract(payload, '$.platform') || ':' || json_extract(payload, '$.account') || ':'
      || json_extract(payload, '$.conversation.id')) + 1)
  WHERE queue IN ('inbound', 'control') AND json_valid(payload)
    AND substr(partition, 1, length(json_extract(payload, '$.platform') || ':' || json_extract(payload, '$.account') || ':'
      || json_extract(payload, '$.conversation.id'))) = json_extract(payload, '$.platform') || ':' || json_extract(payload, '$.account')
      || ':' || json_extract(payload, '$.conversation.id');

UPDATE queue_jobs
  SET partition = json_extract(payload, '$.address.platform') || ':' || json_extract(payload, '$.address.conversation.id')
    || substr(partition, length(json_extract(payload, '$.address.platform') || ':' || json_extract(payload, '$.address.account') || ':'
      || json_extract(payload, '$.address.conversation.id')) + 1)
  WHERE queue LIKE 'outbound:%' AND json_valid(payload) AND instr(job_id, ':notify:') = 0
    AND substr(partition, 1, length(json_extract(payload, '$.address.platform') || ':' || json_extract(payload, '$.address.account') || ':'
      || json_extract(payload, '$.address.conversation.id'))) = json_extract(payload, '$.address.platform') || ':'
      || json_extract(payload, '$.address.account') || ':' || json_extract(payload, '$.address.conversation.id');

-- The heads follow the partitions (their triggers see inserts and deletes, not this update).
DELETE FROM queue_heads;
INSERT INTO queue_heads (queue, partition, seq) SELECT queue, partition, MIN(seq) FROM queue_jobs GROUP BY queue, partition;
