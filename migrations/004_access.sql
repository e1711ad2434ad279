-- Access changes made at run time (CLI, dashboard, pairing). They win over the config's allow list; the config's
-- deny list still wins over them. One row per identity: the latest decision.
CREATE TABLE access_overrides (
  identity    TEXT PRIMARY KEY,             -- platform:id
  action      TEXT NOT NULL CHECK (action IN ('allow', 'revoke', 'deny')),
  source      TEXT NOT NULL,                -- cli | pairing | dashboard
  updated_at  TEXT NOT NULL
);

CREATE TABLE pairing_requests (
  code         TEXT PRIMARY KEY,
  platform     TEXT NOT NULL,
  account      TEXT NOT NULL,
  sender_id    TEXT NOT NULL,
  name         TEXT NOT NULL DEFAULT '',
  created_at   INTEGER NOT NULL,            -- ms
  expires_at   INTEGER NOT NULL,            -- ms
  status       TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied')) DEFAULT 'pending',
  decided_at   INTEGER
);
CREATE INDEX pairing_by_sender ON pairing_requests (platform, sender_id, created_at);
CREATE INDEX pairing_pending ON pairing_requests (platform, account, status, expires_at);
