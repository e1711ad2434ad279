import { setTimeout as sleep } from 'node:timers/promises';
import {
  backoffDelay,
  DEFAULT_BACKOFF_MS,
  DEFAULT_MAX_ATTEMPTS,
  isUnrecoverable,
  type ConsumeOptions,
  type HopResult,
  type Job,
  type JobHandler,
} from './queue.js';

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
): Promise<Outcome> {
  const outcome = await attempt(job, handler, options, signal);
  if (outcome.kind === 'dead') {
    try {
      await options.onDead?.(job, outcome.error);
    } catch {
      // Reporting a dead letter must never stop it from being recorded.
    }
  }
  return outcome;
}

async function attempt(
  job: Job,
  handler: JobHandler,
  options: ConsumeOptions,
  signal: AbortSignal,
): Promise<Outcome> {
  const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  const backoffMs = options.backoffMs ?? DEFAULT_BACKOFF_MS;
  for (let attempt = job.attempt; ; attempt++) {
    if (attempt > maxAttempts) return { kind: 'dead', error: 'delivered more times than maxAttempts', attempts: attempt - 1 };
    try {
      const result = await handler({ ...job, attempt }, signal);
      return { kind: 'done', result: result ?? {} };
    } catch (error) {
      const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      if (isUnrecoverable(error) || attempt >= maxAttempts) return { kind: 'dead', error: message, attempts: attempt };
      if (signal.aborted) return { kind: 'released' };
      try {
        await sleep(backoffDelay(attempt, backoffMs), undefined, { signal });
      } catch {
        return { kind: 'released' };
      }
    }
  }
}

/** A counting semaphore: bounds jobs in flight in one consumer. */
export class Semaphore {
  private waiters: Array<() => void> = [];
  constructor(private free: number) {}
  async acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((resolve) => this.waiters.push(resolve));
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
