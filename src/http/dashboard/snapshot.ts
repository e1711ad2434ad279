import { INBOUND_QUEUE } from '../../../core/session-worker.js';
import { outboundQueue } from '../../../core/event.js';
import type { TrafficRow } from '../../../core/sqlite/dashboard-queries.js';
import type { DashboardDeps } from './deps.js';

export const BUCKET_MS = 5_000;
export const BUCKETS = 60;

export interface Snapshot {
  at: string;
  children: Array<{ name: string; state: string }>;
  queues: Array<{ name: string; waiting: number; active: number; dead: number }>;
  deadLetters: number;
  totals: { in: number; out: number };
  platforms: Array<{ platform: string; in: number; out: number }>;
  /** Messages per 5-second bucket over the last five minutes, oldest first. */
  series: { in: number[]; out: number[] };
}

/** The queues the overview watches: inbound, each enabled connector's outbound queue, and the HTTP surfaces'. */
export function watchedQueues(config: DashboardDeps['config']): string[] {
  const platforms = Object.entries(config.connectors)
    .filter(([name, c]) => c?.enabled && name !== 'loopback')
    .map(([name]) => name);
  return [INBOUND_QUEUE, ...new Set([...platforms, 'web', 'api'].map((p) => outboundQueue({ platform: p, account: p })))];
}

/**
 * Counts received and sent messages from the audit log. The first call scans once; after that only entries past
 * the last seen sequence number are read, so a snapshot every second stays cheap however long the log is.
 */
class TrafficCounter {
  private lastSeq = -1;
  private readonly perPlatform = new Map<string, { in: number; out: number }>();
  private readonly buckets = new Map<number, { in: number; out: number }>();

  constructor(private readonly queries: ReturnType<DashboardDeps['store']['dashboardQueries']>) {}

  private running: Promise<unknown> = Promise.resolve();

  /** Serialized: two overlapping updates would count the same entries twice. */
  update(now: number): Promise<Pick<Snapshot, 'totals' | 'platforms' | 'series'>> {
    const next = this.running.then(() => this.advance(now));
    this.running = next.catch(() => undefined);
    return next;
  }

  private async advance(now: number): Promise<Pick<Snapshot, 'totals' | 'platforms' | 'series'>> {
    const head = await this.queries.auditHead();
    const windowStart = (Math.floor(now / BUCKET_MS) - BUCKETS + 1) * BUCKET_MS;
    if (this.lastSeq < 0) {
      for (const t of await this.queries.trafficTotals(head)) this.tally(t.platform, t.kind, t.count);
      this.bucketize(await this.queries.trafficSince(0, { upTo: head, sinceAt: new Date(windowStart).toISOString() }));
    } else if (head > this.lastSeq) {
      const rows = await this.queries.trafficSince(this.lastSeq, { upTo: head });
      for (const r of rows) this.tally(r.platform, r.kind, 1);
      this.bucketize(rows);
    }
    this.lastSeq = Math.max(this.lastSeq, head);
    for (const b of this.buckets.keys()) if (b < windowStart) this.buckets.delete(b);
    const platforms = [...this.perPlatform].map(([platform, c]) => ({ platform, ...c })).sort((a, b) => a.platform.localeCompare(b.platform));
    const series = { in: [] as number[], out: [] as number[] };
    for (let i = 0; i < BUCKETS; i++) {
      const b = this.buckets.get(windowStart + i * BUCKET_MS);
      series.in.push(b?.in ?? 0);
      series.out.push(b?.out ?? 0);
    }
    const sum = (k: 'in' | 'out') => platforms.reduce((n, p) => n + p[k], 0);
    return { totals: { in: sum('in'), out: sum('out') }, platforms, series };
  }

  private tally(platform: string, kind: TrafficRow['kind'], n: number): void {
    const key = platform || 'unknown';
    const c = this.perPlatform.get(key) ?? { in: 0, out: 0 };
    c[kind === 'inbound.received' ? 'in' : 'out'] += n;
    this.perPlatform.set(key, c);
  }

  private bucketize(rows: TrafficRow[]): void {
    for (const r of rows) {
      const b = Math.floor(Date.parse(r.at) / BUCKET_MS) * BUCKET_MS;
      const c = this.buckets.get(b) ?? { in: 0, out: 0 };
      c[r.kind === 'inbound.received' ? 'in' : 'out']++;
      this.buckets.set(b, c);
    }
  }
}

/** One snapshot at a time, reused for half a second: many open dashboards cost the store what one does. */
export class SnapshotSource {
  private readonly traffic: TrafficCounter;
  private readonly queues: string[];
  private last?: { at: number; value: Promise<Snapshot> };

  constructor(private readonly deps: DashboardDeps) {
    this.traffic = new TrafficCounter(deps.store.dashboardQueries());
    this.queues = watchedQueues(deps.config);
  }

  get(): Promise<Snapshot> {
    const now = (this.deps.now ?? Date.now)();
    if (this.last && now - this.last.at < 500) return this.last.value;
    const value = this.compute(now);
    this.last = { at: now, value };
    value.catch(() => (this.last = undefined));
    return value;
  }

  private async compute(now: number): Promise<Snapshot> {
    const states = this.deps.states?.() ?? {};
    const queues = await Promise.all(this.queues.map(async (name) => ({ name, ...(await this.deps.queue.depth(name)) })));
    return {
      at: new Date(now).toISOString(),
      children: Object.entries(states).map(([name, state]) => ({ name, state })),
      queues,
      deadLetters: queues.reduce((n, q) => n + q.dead, 0),
      ...(await this.traffic.update(now)),
    };
  }
}

/** Points of a sparkline polyline in a w×h box; the client draws the same from each snapshot. */
export function sparkPoints(values: number[], w = 300, h = 40): string {
  const max = Math.max(1, ...values);
  const step = values.length > 1 ? w / (values.length - 1) : w;
  return values.map((v, i) => `${(i * step).toFixed(1)},${(h - (v / max) * (h - 2) - 1).toFixed(1)}`).join(' ');
}
