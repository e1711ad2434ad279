import { describe, expect, it } from 'vitest';
import type { TrafficRow } from '../../core/sqlite/dashboard-queries.js';
import { BUCKET_MS, BUCKETS, percentile, TrafficWindow } from '../../src/http/dashboard/traffic.js';

const T0 = Date.parse('2026-03-01T12:00:00.000Z');
let seq = 0;
const iso = (ms: number) => new Date(ms).toISOString();
const inbound = (event: string, at: number, receivedAt?: number, platform = 'telegram'): TrafficRow => ({
  seq: ++seq,
  kind: 'inbound.received',
  at: iso(at),
  platform,
  subject: event,
  receivedAt: receivedAt === undefined ? null : iso(receivedAt),
});
const sent = (event: string, at: number, platform = 'telegram'): TrafficRow => ({ seq: ++seq, kind: 'outbound.sent', at: iso(at), platform, subject: event, receivedAt: null });

describe('overview traffic window', () => {
  it('takes percentiles by nearest rank', () => {
    const ten = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    expect(percentile(ten, 0.5)).toBe(5);
    expect(percentile(ten, 0.95)).toBe(10);
    expect(percentile([42], 0.95)).toBe(42);
    expect(percentile([], 0.5)).toBeNull();
  });

  it('measures latency from receipt to the first reply, per 5-second bucket of the reply', () => {
    const w = new TrafficWindow();
    w.add([
      inbound('a', T0 + 200, T0 - 1_000),
      sent('a', T0 + 500),
      // A second part of the same answer is traffic, not another latency sample.
      sent('a', T0 + 900),
      // No receivedAt recorded (an older entry): counted from the turn's commit.
      inbound('b', T0 + 1_000),
      sent('b', T0 + 1_250),
      // A reply whose message predates what was read: counted, not measured.
      sent('z', T0 + 1_300),
    ]);
    const v = w.view(T0 + 2_000);
    const last = BUCKETS - 1;
    expect(v.series.t[last]).toBe(Math.floor((T0 + 2_000) / BUCKET_MS) * (BUCKET_MS / 1000));
    expect(v.series.in[last]).toBe(2);
    expect(v.series.out[last]).toBe(4);
    expect(v.series.p50[last]).toBe(250);
    expect(v.series.p95[last]).toBe(1_500);
    expect(v.series.p50.slice(0, last).every((p) => p === null)).toBe(true);
    expect(v.recent).toEqual({ in: 2, out: 4, replies: 2, p50: 250, p95: 1_500 });
    expect(v.totals).toEqual({ in: 2, out: 4 });
    expect(v.platforms).toEqual([{ platform: 'telegram', in: 2, out: 4 }]);
  });

  it('lets old buckets leave the five-minute window while the totals keep them', () => {
    const w = new TrafficWindow();
    w.addTotals([{ kind: 'inbound.received', platform: 'slack', count: 40 }]);
    w.add([inbound('a', T0, T0, 'slack'), sent('a', T0 + 100, 'slack')], true);
    w.add([inbound('b', T0 + 10, T0, 'web')]);
    expect(w.view(T0 + 1_000).recent.in).toBe(2);
    const later = w.view(T0 + BUCKETS * BUCKET_MS + 1);
    expect(later.recent).toEqual({ in: 0, out: 0, replies: 0, p50: null, p95: null });
    expect(later.platforms).toEqual([
      { platform: 'slack', in: 40, out: 0 },
      { platform: 'web', in: 1, out: 0 },
    ]);
  });
});
