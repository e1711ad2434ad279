-- Turns that cost something, per workspace and day: what an average turn costs, for the budget's holds (rows
-- written before this count none, and are left out of the average).
ALTER TABLE usage_daily ADD COLUMN turns INTEGER NOT NULL DEFAULT 0;

-- What turns running now are expected to spend, from the budget's check to the turn's commit: without it, turns
-- started together each saw the budget as it was before any of them, and all ran past the ceiling.
CREATE TABLE budget_holds (
  event_id      TEXT PRIMARY KEY,
  workspace_id  TEXT NOT NULL,
  tokens        REAL NOT NULL,
  cost_usd      REAL NOT NULL,
  expires_at    TEXT NOT NULL               -- ISO-8601 UTC; a hold left by a crashed worker stops counting then
);
CREATE INDEX budget_holds_by_workspace ON budget_holds (workspace_id, expires_at);
