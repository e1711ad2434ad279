-- How an assistant's message was written, so the dashboard shows a backend's markdown rendered and echoed text as typed.
ALTER TABLE messages ADD COLUMN format TEXT NOT NULL DEFAULT 'plain' CHECK (format IN ('plain', 'markdown'));
