import pino, { type Logger } from 'pino';
import type { Redactor } from '../core/redactor.js';
import { isGoneOutput } from './errors.js';
import { logLevel } from './log-level.js';

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

export type { Logger };
