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
 * - `next` jobs returned by a handler are enqueued as part of that job's acknowledgement. A handler may return a
 *   `commit` instead: the driver makes it within the job's attempt (a commit that throws is retried like a handler
 *   that throws) and enqueues the follow-ups it yields. Where the commit can join the acknowledgement's own
 *   transaction (the embedded driver, on the connection the commit writes to), both are one transaction.
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

export type HopNext = Array<{ queue: string; job: JobInput }>;

/**
 * State a handler hands back to be committed with its job's acknowledgement (a turn's dedupe mark, history and audit).
 * `commit` makes it on its own; `joinable` offers the same writes as a synchronous function for a driver whose
 * acknowledgement runs in a transaction on `connection`, so that the state and the ack commit or fail together.
 */
export interface HopCommit<T> {
  commit(): Promise<T>;
  joinable?: { connection: unknown; write(): T };
}

export interface HopResult {
  next?: HopNext;
  /** Replaces `next`: committed with the acknowledgement, it yields the follow-up jobs. */
  commit?: HopCommit<HopNext>;
}

/** A commit yielding `f` of what the original yields, joinable where the original is. */
export function mapCommit<A, B>(c: HopCommit<A>, f: (a: A) => B): HopCommit<B> {
  const { joinable } = c;
  return {
    commit: async () => f(await c.commit()),
    ...(joinable ? { joinable: { connection: joinable.connection, write: () => f(joinable.write()) } } : {}),
  };
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
  /**
   * Which queues these are, to tell apart two processes that would never meet (another Redis, database or prefix):
   * the driver, and for Redis its address and key prefix. Never a credential.
   */
  readonly where: string;
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
  /** Cheap liveness check (`doctor`, one-shot commands): answers or fails within seconds, saying why in plain words. */
  ping(): Promise<void>;
  /**
   * Whether a server the queue lives on (Redis) keeps its jobs across its own restart; absent for a driver whose
   * jobs are in the gateway's own database. Undefined when the server will not say.
   */
  persistence?(): Promise<{ durable: boolean; detail: string } | undefined>;
  /**
   * Jobs waiting where no consumer of this configuration reads (BullMQ partition queues beyond `queue.partitions`,
   * left by a run with more of them); absent for a driver whose jobs cannot be stranded so.
   */
  stranded?(): Promise<Array<{ queue: string; partition: number; jobs: number }>>;
  close(): Promise<void>;
}

/** Throw from a handler to dead-letter a job at once: retrying cannot help (a malformed payload). */
export class UnrecoverableJobError extends Error {
  override readonly name = 'UnrecoverableJobError';
}

/** Matched by name too: it may cross a process boundary serialized. */
export const isUnrecoverable = (e: unknown): boolean =>
  e instanceof UnrecoverableJobError || (e instanceof Error && e.name === 'UnrecoverableJobError');

/**
 * Throw from a handler when the platform asked for quiet first (a 429's Retry-After for that chat): the job waits
 * `afterMs` without its consumer slot, keeping its partition, and the wait does not count as an attempt.
 */
export class RetryLaterError extends Error {
  override readonly name = 'RetryLaterError';
  constructor(
    readonly afterMs: number,
    message: string,
  ) {
    super(message);
  }
}

export const DEFAULT_MAX_ATTEMPTS = 5;
export const DEFAULT_BACKOFF_MS = 200;
export const MAX_BACKOFF_MS = 30_000;
/** How long an idempotency key is remembered after its job completed. */
export const DEDUPE_RETENTION_MS = 24 * 60 * 60 * 1000;

export const backoffDelay = (attempt: number, baseMs: number): number =>
  Math.min(MAX_BACKOFF_MS, baseMs * 2 ** Math.max(0, attempt - 1));
