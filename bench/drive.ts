import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { summarize, type LatencySummary } from './stats.js';

/**
 * Load generation shared by every load process (raw producers and the loopback connector). All times come from
 * performance.now() in the one process that both publishes and receives, so no clocks are compared across processes.
 */
export class Tracker {
  /** Replies received so far, matched or not (the raw pipelines count only). */
  done = 0;
  lastAt = 0;
  readonly latencies: number[] = [];
  private readonly sentAt = new Map<string, { at: number; record: boolean }>();
  private waiters: Array<() => void> = [];

  /** Called before publishing, so a reply that beats the publish's own promise is still matched. */
  expect(id: string, at: number, record: boolean): void {
    this.sentAt.set(id, { at, record });
  }

  received(id?: string): void {
    const now = performance.now();
    this.done++;
    this.lastAt = now;
    if (id !== undefined) {
      const sent = this.sentAt.get(id);
      if (sent) {
        this.sentAt.delete(id);
        if (sent.record) this.latencies.push(now - sent.at);
      }
    }
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  get outstanding(): number {
    return this.sentAt.size;
  }

  /** Resolves on the next reply, or after `ms`. */
  next(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, Math.max(1, ms));
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

export interface Throughput {
  count: number;
  seconds: number;
  perSecond: number;
  timedOut: boolean;
}

/**
 * Closed loop: keep at most `window` messages in flight, publishing in batches of `batch` (one await per batch),
 * until `total` replies arrived or the deadline passed. Rate = replies / (last reply − first publish).
 */
export async function closedLoop(o: {
  tracker: Tracker;
  total: number;
  window: number;
  batch: number;
  timeoutMs: number;
  publish: (n: number) => Promise<void>;
}): Promise<Throughput> {
  const { tracker } = o;
  const base = tracker.done;
  let sent = 0;
  const t0 = performance.now();
  const deadline = t0 + o.timeoutMs;
  while (tracker.done - base < o.total && performance.now() < deadline) {
    const inFlight = sent - (tracker.done - base);
    if (sent < o.total && inFlight + Math.min(o.batch, o.total - sent) <= o.window) {
      const n = Math.min(o.batch, o.total - sent);
      await o.publish(n);
      sent += n;
      continue;
    }
    await tracker.next(deadline - performance.now());
  }
  const count = tracker.done - base;
  const seconds = (Math.max(tracker.lastAt, t0) - t0) / 1000;
  return { count, seconds, perSecond: seconds > 0 ? count / seconds : 0, timedOut: count < o.total };
}

export interface OpenLoopResult extends LatencySummary {
  offeredPerSecond: number;
  achievedSendPerSecond: number;
  missing: number;
}

/** How an open loop offers load: `rate` messages a second, the first `warmupS` seconds not recorded. */
export interface OpenLoopParams {
  rate: number;
  warmupS: number;
  measureS: number;
  drainMs: number;
}

/**
 * Open loop: one message every 1000/rate ms on a fixed schedule, never waiting for replies, so a slow reply cannot
 * slow the offered load down (no coordinated omission). The first `warmupS` seconds are sent but not recorded.
 */
export async function openLoop(o: OpenLoopParams & { tracker: Tracker; publishOne: (record: boolean) => Promise<void> }): Promise<OpenLoopResult> {
  const interval = 1000 / o.rate;
  const warm = Math.round(o.rate * o.warmupS);
  const total = warm + Math.round(o.rate * o.measureS);
  const errors: unknown[] = [];
  const start = performance.now();
  let measuredFrom = start;
  for (let i = 0; i < total; i++) {
    const wait = start + i * interval - performance.now();
    if (wait > 0) await sleep(wait);
    if (i === warm) measuredFrom = performance.now();
    o.publishOne(i >= warm).catch((e: unknown) => errors.push(e));
  }
  const sendSeconds = (performance.now() - measuredFrom) / 1000;
  const drainUntil = performance.now() + o.drainMs;
  while (o.tracker.outstanding > 0 && performance.now() < drainUntil) await o.tracker.next(drainUntil - performance.now());
  if (errors.length) throw errors[0];
  return {
    ...summarize(o.tracker.latencies),
    offeredPerSecond: o.rate,
    achievedSendPerSecond: (total - warm) / Math.max(sendSeconds, 1e-9),
    missing: o.tracker.outstanding,
  };
}

/** The stdout protocol every bench child speaks to run.ts: one READY line, then one RESULT line. */
export const announceReady = (): void => void process.stdout.write('READY\n');
export function report(result: object): void {
  // This process's own CPU use over its life (start-up and warm-up included), to compare with the wall time.
  const cpu = process.cpuUsage();
  process.stdout.write(`RESULT ${JSON.stringify({ ...result, cpuSeconds: (cpu.user + cpu.system) / 1e6 })}\n`);
}

/** Exits on SIGTERM/SIGINT after `close`, bounded so a stuck close cannot hang the bench. */
export function exitOnSignal(close: () => Promise<void>): void {
  const stop = () => {
    setTimeout(() => process.exit(0), 10_000).unref();
    void close().finally(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
