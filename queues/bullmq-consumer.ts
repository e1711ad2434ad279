import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { WaitingError, Worker, type Job as BullJob } from 'bullmq';
import { Redis } from 'ioredis';
import { settlesWithin } from '../core/deadline.js';
import { DEFAULT_MAX_ATTEMPTS, type ConsumeOptions, type Job, type JobHandler } from '../core/queue.js';
import { Permit, reportDead, runWithRetries, Semaphore, type Outcome } from '../core/queue-retry.js';
import type { BullmqDriver } from './bullmq.js';
import { envelopeSchema, type Envelope } from './bullmq-envelope.js';
import { allPartitionQueues } from './bullmq-names.js';
import { REFRESH_MS, type Registered } from './lock-owners.js';
import { QUIT_MS, quitRedis } from './redis-quit.js';

const DEFAULT_CONCURRENCY = 8;

/** One job this consumer holds, from fetch to acknowledgement or hand-back. */
class Flight {
  readonly controller = new AbortController();
  started = false;
  private giveUp!: () => void;
  /** Resolves when the consumer stops waiting for this job: it is handed back whatever the handler does next. */
  readonly released = new Promise<{ kind: 'released' }>((resolve) => (this.giveUp = () => resolve({ kind: 'released' })));
  release(): void {
    this.controller.abort();
    this.giveUp();
  }
}

/** One `consume` of a logical queue: a worker per partition queue, run one job at a time, under one semaphore. */
export class BullmqConsumer {
  private readonly workers: Worker<Envelope>[];
  /** This consumer's workers as LockOwners keeps them, refreshed while they run. */
  private readonly registered: Registered[];
  private refresh?: NodeJS.Timeout;
  private readonly connection: Redis;
  private readonly semaphore: Semaphore;
  private readonly flights = new Set<Flight>();
  private readonly started: Promise<void>;
  private closing = false;
  private readonly stopping = new AbortController();
  private closed?: Promise<void>;
  private idle?: () => void;

  constructor(
    private readonly driver: BullmqDriver,
    private readonly queue: string,
    private readonly handler: JobHandler,
    private readonly options: ConsumeOptions,
  ) {
    this.semaphore = new Semaphore(options.concurrency ?? DEFAULT_CONCURRENCY);
    // Shared by every job in flight, each of which may listen while it waits: no cap, hence no false leak warning.
    setMaxListeners(0, this.stopping.signal);
    // BullMQ gives each worker its own blocking duplicate; the non-blocking commands of this consumer's workers
    // share one connection, which must not give up on commands while Redis restarts.
    this.connection = new Redis(driver.options.url, { maxRetriesPerRequest: null });
    this.connection.on('error', (e: Error) => this.report(e));
    const names = allPartitionQueues(queue, driver.partitions);
    const workers = names.map((name) => {
      const worker = new Worker<Envelope>(name, (job, token) => this.process(job, token ?? ''), {
        connection: this.connection,
        prefix: driver.prefix,
        autorun: false,
        concurrency: 1,
        lockDuration: driver.leaseMs,
        stalledInterval: Math.max(100, Math.floor(driver.leaseMs / 2)),
        // A crash redelivery must reach runWithRetries' maxAttempts check and be dead-lettered by us; BullMQ's
        // own stall limit would fail the job where nobody looks. Other consumers may allow more attempts.
        maxStalledCount: Math.max(options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS, 20),
      });
      worker.on('error', (e) => this.report(e));
      return worker;
    });
    this.workers = workers;
    const registered = workers.map((w) => ({ id: w.id, queue: w.name }));
    this.registered = registered;
    this.started = (async () => {
      // No worker may run before its queue is limited to one active job; Redis may still be starting up.
      for (let delay = 500; !this.closing; delay = Math.min(delay * 2, 10_000)) {
        try {
          const queues = await Promise.all(names.map((name) => driver.partitionQueue(name)));
          // A process restarted after a crash takes its predecessor's jobs back now, not after their locks expire;
          // its own workers are on record before they take any lock.
          await driver.owners.breakDead(queues);
          // Closed meanwhile (close may have stopped waiting for this): nothing to put on record, nothing to run.
          if (this.closing) return;
          await driver.owners.register(registered);
          if (this.closing) return void driver.owners.forget(registered.map((w) => w.id)).catch(() => undefined);
          this.refresh = setInterval(() => void driver.owners.register(registered).catch((e: Error) => this.report(e)), REFRESH_MS);
          this.refresh.unref();
          for (const worker of workers) worker.run().catch((e: Error) => this.report(e));
          return;
        } catch (error) {
          this.report(error as Error);
          await sleep(delay, undefined, { signal: this.stopping.signal }).catch(() => undefined);
        }
      }
    })();
  }

  private report(error: Error): void {
    if (!this.closing) this.driver.reportError(error);
  }

  private async process(job: BullJob<Envelope>, token: string): Promise<void> {
    const flight = new Flight();
    this.flights.add(flight);
    try {
      await this.fly(flight, job, token);
    } finally {
      this.flights.delete(flight);
      if (this.flights.size === 0) this.idle?.();
    }
  }

  /**
   * A job whose data is no envelope of ours (written to Redis by something else, or damaged) is dead-lettered as it
   * is and completed: run, it would fail on every delivery and hold its partition's queue for good.
   */
  private async refuse(job: BullJob, issues: string): Promise<void> {
    const input: Job = { queue: this.queue, id: String(job.id), partition: job.queueName, payload: job.data as unknown, attempt: 1 };
    const error = `not a job of this gateway: ${issues}`;
    try {
      await this.driver.recordDead(job, { error, attempts: 0 }, input);
    } catch (e) {
      this.report(e as Error);
    }
    await reportDead(this.options, input, error);
  }

  private async fly(flight: Flight, job: BullJob<Envelope>, token: string): Promise<void> {
    const checked = envelopeSchema.safeParse(job.data);
    if (!checked.success) return this.refuse(job, checked.error.issues.map((i) => `${i.path.join('.') || '(data)'}: ${i.message}`).join('; ').slice(0, 500));
    const env = checked.data;
    // attemptsStarted counts every fetch, crashed ones included; skew adds retries made in place and removes
    // deliveries that were handed back, so `attempt` reads as the number of the handler call about to happen.
    const first = Math.max(1, job.attemptsStarted + (env.skew ?? 0));
    let last = first - 1;
    const handBack = async (): Promise<never> => {
      try {
        await job.updateData({ ...env, skew: (env.skew ?? 0) + (last - first) - 1 });
        await job.moveToWait(token);
      } catch {
        // The lock is gone (or Redis is): the stalled check hands the job on after the lease instead.
      }
      // Tells BullMQ the job was moved by hand: it neither completes nor fails it.
      throw new WaitingError();
    };
    if (this.closing) return handBack();
    const permit = new Permit(this.semaphore);
    const taking = permit.take();
    if (!(await Promise.race([taking, flight.released.then(() => false)]))) {
      void taking.then(() => permit.give());
      return handBack();
    }
    flight.started = true;
    try {
      const handler: JobHandler = async (attempt, signal) => {
        last = attempt.attempt;
        if (attempt.attempt > first) {
          // Persisted before the call so that a crash during a retry still counts the retries before it.
          await job.updateData({ ...env, skew: (env.skew ?? 0) + (attempt.attempt - first) }).catch(() => undefined);
        }
        // Handed back during that write: another consumer may own the job by now.
        if (signal.aborted) throw new Error('handed back');
        // Redis cannot join a SQLite transaction: the commit is made on its own, within the attempt, and its
        // follow-ups go out with the job's completion like any handler's `next`.
        const result = await this.handler(attempt, signal);
        return result?.commit ? { next: await result.commit.commit() } : result;
      };
      const input: Job = { queue: env.queue, id: env.id, partition: env.partition, payload: env.payload, attempt: first };
      const running = runWithRetries(input, handler, this.options, flight.controller.signal, this.stopping.signal, permit);
      const outcome: Outcome = await Promise.race([running, flight.released]);
      if (outcome.kind === 'released') return handBack();
      try {
        if (outcome.kind === 'dead') await this.driver.recordDead(job, outcome, env);
        else await this.driver.enqueueHops(outcome.result.next ?? []);
      } catch (error) {
        this.report(error as Error);
        return handBack();
      }
      if (outcome.kind === 'dead') await reportDead(this.options, input, outcome.error);
      // Returning lets BullMQ complete the job, which also releases the partition's next one.
    } finally {
      permit.give();
    }
  }

  async close(drainMs = 8_000): Promise<void> {
    this.closed ??= (async () => {
      this.closing = true;
      this.stopping.abort();
      // With Redis gone, starting never finishes (ioredis holds commands while offline): nothing runs to wait for.
      await settlesWithin(this.started, QUIT_MS);
      // Closing a worker stops its fetching at once and then waits for its job to be acknowledged or handed back.
      const stopped = Promise.all(this.workers.map((w) => w.close().catch(() => undefined)));
      // Jobs still waiting for a slot never reached the handler: hand them back now rather than start them.
      for (const flight of this.flights) if (!flight.started) flight.release();
      if (this.flights.size > 0) {
        const idle = new Promise<void>((resolve) => (this.idle = resolve));
        const timer = new AbortController();
        await Promise.race([idle, sleep(drainMs, undefined, { signal: timer.signal }).catch(() => undefined)]);
        timer.abort();
      }
      for (const flight of this.flights) flight.release();
      await settlesWithin(stopped, QUIT_MS);
      clearInterval(this.refresh);
      await settlesWithin(this.driver.owners.forget(this.registered.map((w) => w.id)), QUIT_MS);
      await quitRedis(this.connection);
    })();
    return this.closed;
  }
}
