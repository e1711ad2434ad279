-- Tool calls an agentic backend asked for under an `approve` rule, waiting for an owner's decision.
CREATE TABLE approvals (
  id            TEXT PRIMARY KEY,
  assistant     TEXT NOT NULL,
  tool          TEXT NOT NULL,
  summary       TEXT NOT NULL,               -- the command or tool name shown to the owner
  requester     TEXT NOT NULL,               -- platform:sender-id of the conversation's sender
  event_id      TEXT NOT NULL,
  status        TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'expired')) DEFAULT 'pending',
  created_at    INTEGER NOT NULL,
  expires_at    INTEGER NOT NULL,
  decided_by    TEXT,
  decided_at    INTEGER
);
CREATE INDEX approvals_pending ON approvals (status, expires_at);
