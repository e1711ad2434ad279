import type { Job } from '../core/queue.js';

/** A claimed job: its row, and its payload as stored. */
export type ClaimedJob = Job & { seq: number; stored: string };

/** Stands for a stored payload that is not JSON: such a job is dead-lettered as stored, never handed to a handler. */
export const NOT_JSON = Symbol('not JSON');

export function parsedOr(text: string, fallback: unknown): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return fallback;
  }
}
