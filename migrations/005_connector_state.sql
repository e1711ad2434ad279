-- Small durable state a connector keeps between runs: Telegram's update offset, Discord's last seen message per
-- channel, IMAP UIDs. Keyed by connector account.
CREATE TABLE connector_state (
  connector   TEXT NOT NULL,
  key         TEXT NOT NULL,
  value       TEXT NOT NULL,
  updated_at  TEXT NOT NULL,
  PRIMARY KEY (connector, key)
);
