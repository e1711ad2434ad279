-- The spine: product model, history, dedupe, audit, sends and the embedded queue.
-- Append-only: never edit this file once landed; add 002_… instead.

CREATE TABLE workspaces (
  id          TEXT PRIMARY KEY,
  created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
INSERT INTO workspaces (id) VALUES ('default');

-- An assistant renders into a session's configuration; rows mirror the config file and, later, dashboard edits.
CREATE TABLE assistants (
  name           TEXT PRIMARY KEY,
  system_prompt  TEXT NOT NULL,
  backends       TEXT NOT NULL,             -- JSON array: primary first, then fallbacks
  model          TEXT,
  pipelines      TEXT NOT NULL,             -- JSON: { inbound, request, response, outbound }
  updated_at     TEXT NOT NULL
);

-- A channel is one platform conversation, bound to a workspace.
CREATE TABLE channels (
  id               INTEGER PRIMARY KEY,
  platform         TEXT NOT NULL,
  conversation_id  TEXT NOT NULL,
  kind             TEXT NOT NULL CHECK (kind IN ('dm', 'group', 'channel')),
  workspace_id     TEXT NOT NULL REFERENCES workspaces (id),
  created_at       TEXT NOT NULL,
  UNIQUE (platform, conversation_id)
);

-- A session is the scope of history: one per DM sender, one per group/channel thread.
CREATE TABLE sessions (
  id            INTEGER PRIMARY KEY,
  channel_id    INTEGER NOT NULL REFERENCES channels (id),
  workspace_id  TEXT NOT NULL REFERENCES workspaces (id),
  scope         TEXT NOT NULL,
  created_at    TEXT NOT NULL,
  closed_at     TEXT
);
CREATE UNIQUE INDEX sessions_open ON sessions (channel_id, scope) WHERE closed_at IS NULL;

CREATE TABLE messages (
  id          INTEGER PRIMARY KEY,
  session_id  INTEGER NOT NULL REFERENCES sessions (id),
  role        TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
  text        TEXT NOT NULL,
  event_id    TEXT NOT NULL,
  created_at  TEXT NOT NULL
);
CREATE INDEX messages_by_session ON messages (session_id, id);

-- One row per platform message handled: a redelivered event finds its turn here and is not answered again.
CREATE TABLE processed_events (
  dedupe_key    TEXT PRIMARY KEY,
  event_id      TEXT NOT NULL,
  processed_at  TEXT NOT NULL
);

-- The replies a turn produced, kept so a redelivery can re-enqueue them under the same idempotency keys.
CREATE TABLE turn_replies (
  idempotency_key  TEXT PRIMARY KEY,
  dedupe_key       TEXT NOT NULL REFERENCES processed_events (dedupe_key),
  queue            TEXT NOT NULL,
  partition        TEXT NOT NULL,
  reply            TEXT NOT NULL
);
CREATE INDEX turn_replies_by_event ON turn_replies (dedupe_key);

-- A connector records the intent before calling the platform and the platform's ids after.
CREATE TABLE sent_messages (
  idempotency_key       TEXT PRIMARY KEY,
  platform              TEXT NOT NULL,
  state                 TEXT NOT NULL CHECK (state IN ('sending', 'sent')),
  platform_message_ids  TEXT,
  updated_at            TEXT NOT NULL
);

CREATE TABLE audit_log (
  seq        INTEGER PRIMARY KEY,
  at         TEXT NOT NULL,
  kind       TEXT NOT NULL,
  actor      TEXT NOT NULL,
  subject    TEXT,
  data       TEXT NOT NULL,
  prev_hash  TEXT NOT NULL,
  hash       TEXT NOT NULL
);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;

-- Liveness of worker and connector processes (`chat` uses it to find a running gateway).
CREATE TABLE heartbeats (
  role     TEXT NOT NULL,
  host     TEXT NOT NULL,
  pid      INTEGER NOT NULL,
  beat_at  INTEGER NOT NULL,
  PRIMARY KEY (role, host, pid)
);

-- The embedded queue driver.
CREATE TABLE queue_jobs (
  seq          INTEGER PRIMARY KEY AUTOINCREMENT,
  queue        TEXT NOT NULL,
  job_id       TEXT NOT NULL,
  partition    TEXT NOT NULL,
  payload      TEXT NOT NULL,
  deliveries   INTEGER NOT NULL DEFAULT 0,
  lease_owner  TEXT,
  lease_until  INTEGER,
  enqueued_at  INTEGER NOT NULL,
  UNIQUE (queue, job_id)
);
CREATE INDEX queue_jobs_head ON queue_jobs (queue, partition, seq);

CREATE TABLE queue_seen (
  queue    TEXT NOT NULL,
  job_id   TEXT NOT NULL,
  done_at  INTEGER NOT NULL,
  PRIMARY KEY (queue, job_id)
) WITHOUT ROWID;
CREATE INDEX queue_seen_age ON queue_seen (done_at);

CREATE TABLE queue_dead (
  id         INTEGER PRIMARY KEY,
  queue      TEXT NOT NULL,
  job_id     TEXT NOT NULL,
  partition  TEXT NOT NULL,
  payload    TEXT NOT NULL,
  attempts   INTEGER NOT NULL,
  error      TEXT NOT NULL,
  dead_at    TEXT NOT NULL
);
