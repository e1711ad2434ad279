-- The encrypted secret vault: AES-256-GCM, a fresh nonce per write, the name bound as associated data.
CREATE TABLE secrets (
  name        TEXT PRIMARY KEY,
  nonce       BLOB NOT NULL,
  ciphertext  BLOB NOT NULL,
  created_at  TEXT NOT NULL,
  updated_at  TEXT NOT NULL
);

-- One row: a known plaintext sealed under the master key, so a wrong key is told apart from corrupted data.
CREATE TABLE vault_meta (
  id          INTEGER PRIMARY KEY CHECK (id = 1),
  nonce       BLOB NOT NULL,
  key_check   BLOB NOT NULL,
  rotated_at  TEXT NOT NULL
);
