-- A multi-part reply's progress (`sent:<idempotency key>` in connector_state) is needed only until its send record
-- is complete; the record's completion now removes it, found by key alone. Progress of replies already sent goes now.
CREATE INDEX connector_state_by_key ON connector_state (key);

DELETE FROM connector_state
WHERE key LIKE 'sent:%' AND substr(key, 6) IN (SELECT idempotency_key FROM sent_messages WHERE state = 'sent');
