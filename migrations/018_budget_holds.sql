-- Turns that cost something, per workspace and day, and what those turns cost: an average turn, for the budget's
-- holds. Kept apart from the day's totals, which hold usage from before these columns: counted with them, a day
-- upgraded mid-way would make its first counted turn look as dear as the whole day until then.
ALTER TABLE usage_daily ADD COLUMN turns INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage_daily ADD COLUMN turn_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage_daily ADD COLUMN turn_cost_usd REAL NOT NULL DEFAULT 0;

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
