-- What backends reported they used, per workspace per UTC day: budgets read it, `talk` turns add to it.
CREATE TABLE usage_daily (
  workspace_id   TEXT NOT NULL,
  day            TEXT NOT NULL,             -- YYYY-MM-DD, UTC
  input_tokens   INTEGER NOT NULL DEFAULT 0,
  output_tokens  INTEGER NOT NULL DEFAULT 0,
  cost_usd       REAL NOT NULL DEFAULT 0,
  PRIMARY KEY (workspace_id, day)
);
