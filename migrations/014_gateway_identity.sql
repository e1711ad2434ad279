-- The Redis key prefix of this data dir's queues (BullMQ): two gateways on one Redis must not take each other's
-- messages. A new data dir gets a prefix of its own; one that has run before (it has audit entries) keeps the prefix
-- every gateway used until now, so jobs waiting in Redis across the upgrade are still found.
CREATE TABLE gateway_identity (
  only INTEGER PRIMARY KEY CHECK (only = 1),
  queue_prefix TEXT NOT NULL
);

INSERT INTO gateway_identity (only, queue_prefix)
SELECT 1, CASE WHEN EXISTS (SELECT 1 FROM audit_log) THEN 'monkeyclaw' ELSE 'mc-' || lower(hex(randomblob(6))) END;
