import { setMaxListeners } from 'node:events';
import type { ConsumeOptions, JobHandler } from '../core/queue.js';
import { Permit, reportDead, runWithRetries, Semaphore } from '../core/queue-retry.js';
import type { EmbeddedDriver } from './embedded.js';
import { NOT_JSON, type ClaimedJob } from './embedded-job.js';

/** Fallback poll when no nudge arrives (DESIGN: at most 50 ms). */
const POLL_MS = 50;

/** One consume() call: a claim loop woken by nudges, bounded by a semaphore. */
export class EmbeddedConsumer {
  private readonly abort = new AbortController();
  /** Fired when close() starts: failed attempts are handed back from then on (see runWithRetries). */
  private readonly stopping = new AbortController();
  private readonly inFlight = new Map<number, Promise<void>>();
  private readonly semaphore: Semaphore;
  private stopped = false;
  /** Set by a wake-up that came while the loop was not waiting (during a claim), so it is not lost. */
  private woken = false;
  private resolveWait?: () => void;
  private readonly wake = (): void => {
    this.woken = true;
    this.resolveWait?.();
  };
  private loop?: Promise<void>;
  private timers: NodeJS.Timeout[] = [];
  private unsubscribe?: () => void;

  constructor(
    private readonly driver: EmbeddedDriver,
    private readonly queue: string,
    private readonly handler: JobHandler,
    private readonly options: ConsumeOptions,
  ) {
    this.semaphore = new Semaphore(options.concurrency ?? 8);
    // Shared by every job in flight, each of which may listen while it waits: no cap, hence no false leak warning.
    setMaxListeners(0, this.abort.signal, this.stopping.signal);
  }

  start(): void {
    this.unsubscribe = this.driver.onWake((q) => q === this.queue && this.wake());
    // A round that fails (the database locked past the deadline) is simply the next round's to do.
    const housekeeping = (work: () => Promise<void>) => () => void work().catch(() => undefined);
    housekeeping(() => this.driver.breakDeadLeases())();
    this.timers.push(setInterval(housekeeping(() => this.driver.renewLeases()), Math.max(100, this.driver.lease / 3)));
    this.timers.push(setInterval(housekeeping(() => this.driver.breakDeadLeases()), 1_000));
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      this.woken = false;
      // Slots first, then jobs for them: a job back from its backoff cannot take a slot a claimed job counted on.
      const permits: Permit[] = [];
      for (let p = new Permit(this.semaphore, this.wake); p.tryTake(); p = new Permit(this.semaphore, this.wake)) permits.push(p);
      // A claim that fails (the database locked past the deadline) is tried again at the next poll.
      const jobs = permits.length > 0 ? ((await this.driver.claim(this.queue, permits.length).catch(() => [])) as ClaimedJob[]) : [];
      jobs.forEach((job, i) => {
        const permit = permits[i]!;
        const work = this.process(job, permit).finally(() => {
          this.inFlight.delete(job.seq);
          permit.give();
        });
        this.inFlight.set(job.seq, work);
      });
      // Slots no job came for go back without a wake-up: nothing new is there to claim.
      for (const p of permits.slice(jobs.length)) p.give(false);
      if ((jobs.length > 0 && jobs.length === permits.length) || this.woken) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, POLL_MS);
        this.resolveWait = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.resolveWait = undefined;
    }
  }

  private async process(job: ClaimedJob, permit: Permit): Promise<void> {
    if (job.payload === NOT_JSON) return this.refuse(job, 'the stored payload is not JSON');
    // The acknowledgement is part of the attempt: a hop whose commit fails (the database locked past the deadline,
    // a constraint) is tried again like a handler that threw, and nothing of it was written.
    const attempt: JobHandler = async (delivery, signal) => this.driver.complete(job, (await this.handler(delivery, signal)) ?? {});
    const outcome = await runWithRetries(job, attempt, this.options, this.abort.signal, this.stopping.signal, permit);
    try {
      if (outcome.kind === 'dead') {
        await this.driver.deadLetter(job, outcome.error, outcome.attempts);
        await reportDead(this.options, job, outcome.error);
      } else if (outcome.kind === 'released') this.driver.release([job.seq]);
    } catch {
      // Not recorded (the database stayed locked): handed back (this process renews its leases for as long as it
      // lives, so a lease left would hold the job, and its partition, for good) and delivered again, where the
      // handler's own records (a turn's dedupe mark, a send record) keep the redelivery from doing anything twice.
      this.handBack(job);
    }
  }

  /** Best effort: a database still locked keeps the lease until this process goes. */
  private handBack(job: ClaimedJob): void {
    try {
      this.driver.release([job.seq]);
    } catch {
      // Still locked: the lease goes with this process.
    }
  }

  /** A job no handler could take (not written by this driver): dead-lettered as stored, never run. */
  private async refuse(job: ClaimedJob, error: string): Promise<void> {
    try {
      await this.driver.deadLetter(job, error, 0);
      await reportDead(this.options, job, error);
    } catch {
      // Not recorded (the database stayed locked): handed back, to be refused again at its next delivery.
      this.handBack(job);
    }
  }

  async close(drainMs = 8_000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.stopping.abort();
    this.wake();
    await this.loop;
    const pending = [...this.inFlight.values()];
    const drained = await Promise.race([
      Promise.all(pending).then(() => true),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), drainMs).unref()),
    ]);
    if (!drained) {
      // Hand back what did not finish: abort its handler and release its lease for another consumer.
      const unfinished = [...this.inFlight.keys()];
      this.abort.abort();
      this.driver.release(unfinished);
      this.inFlight.clear();
    }
    for (const t of this.timers) clearInterval(t);
    this.unsubscribe?.();
  }
}
