import pino, { type Logger } from 'pino';

/**
 * Structured logs on stderr (stdout belongs to command output such as `chat` replies). Credential-shaped fields are
 * censored by path here; the vault's redactor is layered on top once secrets are loaded.
 */
export function createLogger(name: string, defaultLevel = 'info'): Logger {
  return pino(
    {
      name,
      level: process.env.MONKEYCLAW_LOG_LEVEL ?? defaultLevel,
      redact: {
        paths: ['*.token', '*.botToken', '*.appToken', '*.signingSecret', '*.apiKey', '*.password', '*.secretToken', 'headers.authorization', 'headers.cookie'],
        censor: '[redacted]',
      },
    },
    pino.destination({ fd: 2, sync: true }),
  );
}

export type { Logger };
