import { setTimeout as sleep } from 'node:timers/promises';
import {
  backoffDelay,
  DEFAULT_BACKOFF_MS,
  DEFAULT_MAX_ATTEMPTS,
  isUnrecoverable,
  RetryLaterError,
  type ConsumeOptions,
  type HopResult,
  type Job,
  type JobHandler,
} from './queue.js';
import { processRedactor } from './redactor.js';

const MAX_TIMER_MS = 2 ** 31 - 1;

export type Outcome =
  | { kind: 'done'; result: HopResult }
  | { kind: 'dead'; error: string; attempts: number }
  /** Shutdown interrupted the retries: hand the job back undecided. */
  | { kind: 'released' };

/**
 * Runs a job to an outcome, retrying in place with backoff. Retrying in place (rather than re-queueing behind
 * later jobs) is what keeps a partition in order: the job stays at its head until it succeeds or is dead-lettered.
 * `job.attempt` starts at the driver's delivery count, so deliveries lost to crashes count against maxAttempts too.
 */
export async function runWithRetries(
  job: Job,
  handler: JobHandler,
  options: ConsumeOptions,
  signal: AbortSignal,
  stopping?: AbortSignal,
  permit?: Permit,
): Promise<Outcome> {
  return attempt(job, handler, options, signal, stopping, permit);
}

/**
 * Tells the consumer's owner of a dead letter once the driver has recorded it: told before, a record that then
 * failed (a full disk) was logged as dead-lettered while the job was in fact delivered again later.
 */
export async function reportDead(options: ConsumeOptions, job: Job, error: string): Promise<void> {
  try {
    await options.onDead?.(job, error);
  } catch {
    // A report that fails changes nothing of the record.
  }
}

/**
 * `signal` aborts the handler itself (a drain that ran out of time); `stopping` says the consumer is shutting down:
 * an attempt under way may finish, but a failed one is handed back, never retried or dead-lettered by a process
 * on its way out (a platform down for the few seconds of a drain must not cost the reply).
 */
async function attempt(
  job: Job,
  handler: JobHandler,
  options: ConsumeOptions,
  signal: AbortSignal,
  stopping?: AbortSignal,
  permit?: Permit,
): Promise<Outcome> {
  const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  const backoffMs = options.backoffMs ?? DEFAULT_BACKOFF_MS;
  for (let attempt = job.attempt; ; attempt++) {
    if (attempt > maxAttempts) return { kind: 'dead', error: 'delivered more times than maxAttempts', attempts: attempt - 1 };
    try {
      const result = await handler({ ...job, attempt }, signal);
      return { kind: 'done', result: result ?? {} };
    } catch (error) {
      if (error instanceof RetryLaterError) {
        if (!(await waitOut(error.afterMs, permit, [signal, stopping]))) return { kind: 'released' };
        attempt--;
        continue;
      }
      // Kept with a dead letter and shown by `dlq list`: a credential a library put in its message stops here.
      const message = processRedactor.redact(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
      if (isUnrecoverable(error)) return { kind: 'dead', error: message, attempts: attempt };
      if (signal.aborted || stopping?.aborted) return { kind: 'released' };
      if (attempt >= maxAttempts) return { kind: 'dead', error: message, attempts: attempt };
      if (!(await waitOut(backoffDelay(attempt, backoffMs), permit, [signal, stopping]))) return { kind: 'released' };
    }
  }
}

/**
 * A wait between attempts. The job keeps its partition (order holds) but not its slot: one conversation failing or
 * told to wait must not keep the others' jobs waiting behind it. False when a signal cut it short.
 */
async function waitOut(ms: number, permit: Permit | undefined, signals: Array<AbortSignal | undefined>): Promise<boolean> {
  permit?.give();
  if (!(await pause(ms, signals))) return false;
  // Waiting for a slot is cut short by shutdown too: a process on its way out hands the job back, never retries it.
  if (permit && !(await permit.take(signals))) return false;
  if (signals.some((s) => s?.aborted)) return false;
  return true;
}

/**
 * Waits `ms` unless one of `signals` aborts first (then false). Its listeners go when it returns: the signals live as
 * long as the consumer, and AbortSignal.any would leave them a reference per job on Node 20.
 */
async function pause(ms: number, signals: Array<AbortSignal | undefined>): Promise<boolean> {
  const live = signals.filter((s): s is AbortSignal => s !== undefined);
  if (live.some((s) => s.aborted)) return false;
  const stop = new AbortController();
  const abort = () => stop.abort();
  for (const s of live) s.addEventListener('abort', abort, { once: true });
  try {
    // Node fires a timer of 2^31 ms or more at once.
    await sleep(Math.min(ms, MAX_TIMER_MS), undefined, { signal: stop.signal });
    return true;
  } catch {
    return false;
  } finally {
    for (const s of live) s.removeEventListener('abort', abort);
  }
}

/** One job's slot in a consumer's semaphore, given up while the job waits out a backoff and taken again after. */
export class Permit {
  private held = false;
  constructor(
    private readonly semaphore: Semaphore,
    /** Told when the slot is free again, so the consumer can fill it. */
    private readonly onGiven?: () => void,
  ) {}

  /** Waits for a slot; false, with none taken, when a signal aborts first. */
  async take(signals: Array<AbortSignal | undefined> = []): Promise<boolean> {
    if (this.held) return true;
    this.held = await this.semaphore.acquire(signals);
    return this.held;
  }

  /** A slot if one is free now, never a wait: for a loop that must not block on jobs already running. */
  tryTake(): boolean {
    if (!this.held) this.held = this.semaphore.tryAcquire();
    return this.held;
  }

  /** Gives the slot back, once however often it is called; `notify: false` keeps the consumer from being woken. */
  give(notify = true): void {
    if (!this.held) return;
    this.held = false;
    this.semaphore.release();
    if (notify) this.onGiven?.();
  }
}

/** A counting semaphore: bounds jobs in flight in one consumer. */
export class Semaphore {
  private waiters: Array<() => void> = [];
  constructor(private free: number) {}

  tryAcquire(): boolean {
    if (this.free === 0) return false;
    this.free--;
    return true;
  }

  /** Resolves true with a slot, or false (no slot taken) when one of `signals` aborts first. */
  acquire(signals: Array<AbortSignal | undefined> = []): Promise<boolean> {
    if (this.tryAcquire()) return Promise.resolve(true);
    const live = signals.filter((s): s is AbortSignal => s !== undefined);
    if (live.some((s) => s.aborted)) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const settle = (got: boolean) => {
        for (const s of live) s.removeEventListener('abort', abort);
        resolve(got);
      };
      const waiter = () => settle(true);
      const abort = () => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        settle(false);
      };
      for (const s of live) s.addEventListener('abort', abort, { once: true });
      this.waiters.push(waiter);
    });
  }

  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.free++;
  }

  get available(): number {
    return this.free;
  }
}
