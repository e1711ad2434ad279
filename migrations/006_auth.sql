-- Dashboard and API access. Passwords are scrypt hashes; API keys and session ids are stored as SHA-256 digests
-- (they are long random strings, so a fast hash cannot be brute-forced).
CREATE TABLE admin_credentials (
  id             INTEGER PRIMARY KEY CHECK (id = 1),
  password_hash  TEXT NOT NULL,
  updated_at     TEXT NOT NULL
);

CREATE TABLE api_keys (
  id          TEXT PRIMARY KEY,
  name        TEXT NOT NULL,
  assistant   TEXT,
  key_hash    TEXT NOT NULL,
  created_at  TEXT NOT NULL,
  revoked_at  TEXT
);

CREATE TABLE web_sessions (
  id_hash     TEXT PRIMARY KEY,
  csrf_token  TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  expires_at  INTEGER NOT NULL
);
