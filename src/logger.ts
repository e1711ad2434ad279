import pino, { type Logger } from 'pino';
import type { Redactor } from '../core/redactor.js';

/**
 * Structured logs on stderr (stdout belongs to command output such as `chat` replies). Credential-shaped fields are
 * censored by path here; the vault's redactor is layered on top once secrets are loaded.
 */
export function createLogger(name: string, defaultLevel = 'info', redactor?: Redactor): Logger {
  return pino(
    {
      name,
      // The last word on every line: vault values and credential shapes, wherever they hide in it.
      ...(redactor ? { hooks: { streamWrite: (line: string) => redactor.redact(line) } } : {}),
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
