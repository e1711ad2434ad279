import type { TrafficRow } from '../../../core/sqlite/dashboard-queries.js';

export const BUCKET_MS = 5_000;
export const BUCKETS = 60;
/** Enough for a percentile per 5 s; past it a bucket keeps its first samples (a burst still shows its shape). */
const MAX_SAMPLES_PER_BUCKET = 2_000;
/** How long a received message waits for its first reply before it no longer counts towards latency. */
const MAX_WAIT_MS = 15 * 60_000;
const MAX_WAITING = 20_000;

export interface TrafficView {
  totals: { in: number; out: number };
  platforms: Array<{ platform: string; in: number; out: number }>;
  /**
   * Per 5-second bucket over the last five minutes, oldest first: the bucket's start (Unix seconds), messages in
   * and out, and the p50 and p95 of reply latency in ms among replies sent in it (null: none was).
   */
  series: { t: number[]; in: number[]; out: number[]; p50: Array<number | null>; p95: Array<number | null> };
  /** The same five minutes in figures, for the text beside the charts. */
  recent: { in: number; out: number; replies: number; p50: number | null; p95: number | null };
}

interface Bucket {
  in: number;
  out: number;
  latencies: number[];
}

/** Nearest rank on sorted values. */
export function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

/**
 * Message counts and end-to-end latency from audited traffic, fed in sequence order. Latency is from the moment the
 * connector received a message (`receivedAt`, else when its turn was committed) to its first `outbound.sent`: the
 * time until the sender sees an answer. Pure and in memory: the caller reads the audit log, this only counts.
 */
export class TrafficWindow {
  private readonly perPlatform = new Map<string, { in: number; out: number }>();
  private readonly buckets = new Map<number, Bucket>();
  /** Event id → when it was received (ms), until its first reply. Insertion order is arrival order. */
  private readonly waiting = new Map<string, number>();

  /** Adds counts that predate the window (the first scan's totals), with no time series. */
  addTotals(rows: Array<{ kind: TrafficRow['kind']; platform: string; count: number }>): void {
    for (const r of rows) this.tally(r.platform, r.kind, r.count);
  }

  /** Rows in sequence order; `counted` when `addTotals` already counted them (the first scan). */
  add(rows: TrafficRow[], counted = false): void {
    for (const r of rows) {
      if (!counted) this.tally(r.platform, r.kind, 1);
      const at = Date.parse(r.at);
      const bucket = this.bucket(Math.floor(at / BUCKET_MS) * BUCKET_MS);
      if (r.kind === 'inbound.received') {
        bucket.in++;
        const received = r.receivedAt ? Date.parse(r.receivedAt) : NaN;
        if (r.subject) this.waiting.set(r.subject, Number.isFinite(received) ? received : at);
      } else {
        bucket.out++;
        const received = r.subject ? this.waiting.get(r.subject) : undefined;
        if (received !== undefined) {
          this.waiting.delete(r.subject!);
          if (bucket.latencies.length < MAX_SAMPLES_PER_BUCKET) bucket.latencies.push(Math.max(0, at - received));
        }
      }
    }
  }

  private tally(platform: string, kind: TrafficRow['kind'], n: number): void {
    const key = platform || 'unknown';
    const c = this.perPlatform.get(key) ?? { in: 0, out: 0 };
    c[kind === 'inbound.received' ? 'in' : 'out'] += n;
    this.perPlatform.set(key, c);
  }

  private bucket(start: number): Bucket {
    let b = this.buckets.get(start);
    if (!b) this.buckets.set(start, (b = { in: 0, out: 0, latencies: [] }));
    return b;
  }

  /** The window ending in the bucket that holds `now`; older buckets and stale waits are dropped. */
  view(now: number): TrafficView {
    const windowStart = windowStartFor(now);
    for (const b of this.buckets.keys()) if (b < windowStart) this.buckets.delete(b);
    for (const [id, received] of this.waiting) {
      if (received >= now - MAX_WAIT_MS && this.waiting.size <= MAX_WAITING) break;
      this.waiting.delete(id);
    }
    const platforms = [...this.perPlatform].map(([platform, c]) => ({ platform, ...c })).sort((a, b) => a.platform.localeCompare(b.platform));
    const series: TrafficView['series'] = { t: [], in: [], out: [], p50: [], p95: [] };
    const all: number[] = [];
    for (let i = 0; i < BUCKETS; i++) {
      const start = windowStart + i * BUCKET_MS;
      const b = this.buckets.get(start);
      const sorted = [...(b?.latencies ?? [])].sort((x, y) => x - y);
      all.push(...sorted);
      series.t.push(start / 1000);
      series.in.push(b?.in ?? 0);
      series.out.push(b?.out ?? 0);
      series.p50.push(percentile(sorted, 0.5));
      series.p95.push(percentile(sorted, 0.95));
    }
    all.sort((x, y) => x - y);
    const sum = (values: number[]) => values.reduce((n, v) => n + v, 0);
    const total = (k: 'in' | 'out') => platforms.reduce((n, p) => n + p[k], 0);
    return {
      totals: { in: total('in'), out: total('out') },
      platforms,
      series,
      recent: { in: sum(series.in), out: sum(series.out), replies: all.length, p50: percentile(all, 0.5), p95: percentile(all, 0.95) },
    };
  }
}

export const windowStartFor = (now: number): number => (Math.floor(now / BUCKET_MS) - BUCKETS + 1) * BUCKET_MS;
