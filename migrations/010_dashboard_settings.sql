-- Settings changed in the dashboard. The config file is never rewritten: these rows sit on top of it.
-- Append-only: never edit this file once landed; add 011_… instead.

-- An assistant made or edited in the dashboard, one row each; `settings` is JSON { systemPrompt, backend: [primary,
-- …fallbacks], model?, fallback, pipelines }. A row wins over the config file's assistant of the same name (keys the
-- dashboard cannot set, such as tools, still come from the file); deleting it is "reset to config". The `assistants`
-- table stays the mirror of the config file that workers write at start, so that write can never undo an edit.
CREATE TABLE assistant_settings (
  name        TEXT PRIMARY KEY,
  settings    TEXT NOT NULL,
  created_at  TEXT NOT NULL,
  updated_at  TEXT NOT NULL
);

-- A workspace's display name, and the assistant that answers its channels unless the config file names one for the
-- channel (README, "Which assistant answers"). An assistant may live in the config file alone, so no foreign key.
ALTER TABLE workspaces ADD COLUMN display_name TEXT;
ALTER TABLE workspaces ADD COLUMN assistant TEXT;
ALTER TABLE workspaces ADD COLUMN updated_at TEXT;

-- Bumped in the transaction of every change above. Workers read it on each turn (one primary-key lookup) and rebuild
-- only the assistants that changed, so an edit takes effect from the next message, without a restart.
CREATE TABLE settings_revision (
  id        INTEGER PRIMARY KEY CHECK (id = 1),
  revision  INTEGER NOT NULL
);
INSERT INTO settings_revision (id, revision) VALUES (1, 0);
