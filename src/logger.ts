import pino, { type Logger } from 'pino';
import type { Redactor } from '../core/redactor.js';
import { isGoneOutput, UsageError } from './errors.js';

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
      level: logLevel(defaultLevel),
      redact: {
        paths: ['*.token', '*.botToken', '*.appToken', '*.signingSecret', '*.apiKey', '*.password', '*.secretToken', 'headers.authorization', 'headers.cookie'],
        censor: '[redacted]',
      },
    },
    tolerant(pino.destination({ fd: 2, sync: true })),
  );
}

/**
 * The log's destination, with writes to an output that is gone dropped instead of thrown: after the terminal that
 * ran the gateway hangs up, a log line must not stop the shutdown it reports.
 */
export function tolerant(stream: { write(line: string): unknown }): { write(line: string): void } {
  return {
    write(line) {
      try {
        stream.write(line);
      } catch (error) {
        if (!isGoneOutput(error)) throw error;
      }
    },
  };
}

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** MONKEYCLAW_LOG_LEVEL, checked: pino's own complaint ("default level:x must be included in custom levels") names no variable. */
function logLevel(defaultLevel: string): string {
  const level = process.env.MONKEYCLAW_LOG_LEVEL?.trim();
  if (!level) return defaultLevel;
  if (!LEVELS.includes(level)) throw new UsageError(`MONKEYCLAW_LOG_LEVEL: "${level.slice(0, 40)}" is not a level; use one of ${LEVELS.join(', ')}`);
  return level;
}

export type { Logger };
