/**
 * The queue contract every driver honours (embedded SQLite, BullMQ). High-level code speaks only these verbs.
 *
 * Semantics, proven for every driver by test/contracts/queue.ts:
 * - `enqueue` is idempotent on `id`: a job id seen in the last 24 hours is not enqueued again.
 * - Jobs with the same `partition` run one at a time, in enqueue order, across every consumer process;
 *   different partitions run in parallel up to `concurrency`.
 * - A handler that throws is retried with exponential backoff; the partition waits (head-of-line), so order holds.
 *   After `maxAttempts`, or at once for an UnrecoverableJobError, the job is dead-lettered and the partition moves on.
 * - A job whose consumer dies is delivered again (at least once); dedupe is the consumer's business.
 * - `next` jobs returned by a handler are enqueued as part of that job's acknowledgement.
 */
export interface JobInput {
  /** Idempotency key. */
  id: string;
  /** Ordering key: jobs sharing it are processed strictly in order. */
  partition: string;
  payload: unknown;
}

export interface Job extends JobInput {
  queue: string;
  /** 1 on the first delivery. */
  attempt: number;
}

export interface HopResult {
  next?: Array<{ queue: string; job: JobInput }>;
}

export type JobHandler = (job: Job, signal: AbortSignal) => Promise<HopResult | void>;

export interface ConsumeOptions {
  concurrency?: number;
  maxAttempts?: number;
  /** First retry delay; doubles per attempt, capped at 30 s. */
  backoffMs?: number;
  /** Told of every job the driver dead-letters, so the caller can audit it. Must not throw. */
  onDead?: (job: Job, error: string) => void | Promise<void>;
}

export interface Consumer {
  /** Stops taking jobs, waits up to `drainMs` for those in flight, then hands the rest back. */
  close(drainMs?: number): Promise<void>;
}

export interface QueueDepth {
  waiting: number;
  active: number;
  dead: number;
}

export interface DeadLetter {
  id: string;
  queue: string;
  jobId: string;
  partition: string;
  attempts: number;
  error: string;
  deadAt: string;
  payload: unknown;
}

export interface QueueDriver {
  readonly name: 'embedded' | 'bullmq';
  enqueue(queue: string, jobs: JobInput[]): Promise<void>;
  consume(queue: string, handler: JobHandler, options?: ConsumeOptions): Consumer;
  depth(queue: string): Promise<QueueDepth>;
  deadLetters(limit?: number): Promise<DeadLetter[]>;
  /** Puts a dead job back at the tail of its queue with a fresh attempt count; false if no such entry. */
  retryDead(id: string): Promise<boolean>;
  /**
   * Forgets a queue that will never be used again (a terminal chat's own reply queue): its waiting jobs and what
   * it kept to refuse repeated ids. Its consumers must be closed first.
   */
  discard(queue: string): Promise<void>;
  /** Cheap liveness check used by `doctor`. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Throw from a handler to dead-letter a job at once: retrying cannot help (a malformed payload). */
export class UnrecoverableJobError extends Error {
  override readonly name = 'UnrecoverableJobError';
}

/** Matched by name too: it may cross a process boundary serialized. */
export const isUnrecoverable = (e: unknown): boolean =>
  e instanceof UnrecoverableJobError || (e instanceof Error && e.name === 'UnrecoverableJobError');

export const DEFAULT_MAX_ATTEMPTS = 5;
export const DEFAULT_BACKOFF_MS = 200;
export const MAX_BACKOFF_MS = 30_000;
/** How long an idempotency key is remembered after its job completed. */
export const DEDUPE_RETENTION_MS = 24 * 60 * 60 * 1000;

export const backoffDelay = (attempt: number, baseMs: number): number =>
  Math.min(MAX_BACKOFF_MS, baseMs * 2 ** Math.max(0, attempt - 1));
