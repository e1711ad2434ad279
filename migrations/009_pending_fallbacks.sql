-- A message waiting for the user's consent (`/fallback`) before a fallback backend may answer it.
CREATE TABLE pending_fallbacks (
  session_id  INTEGER PRIMARY KEY REFERENCES sessions (id),
  text        TEXT NOT NULL,
  expires_at  INTEGER NOT NULL
);
