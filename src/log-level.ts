import { UsageError } from './errors.js';

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/**
 * MONKEYCLAW_LOG_LEVEL, checked: pino's own complaint ("default level:x must be included in custom levels") names no
 * variable. Every command checks it at start (cli.ts), whether or not it logs, so a typo is found where it is made.
 */
export function logLevel(defaultLevel = 'info'): string {
  const level = process.env.MONKEYCLAW_LOG_LEVEL?.trim();
  if (!level) return defaultLevel;
  if (!LEVELS.includes(level)) throw new UsageError(`MONKEYCLAW_LOG_LEVEL: "${level.slice(0, 40)}" is not a level; use one of ${LEVELS.join(', ')}`);
  return level;
}
