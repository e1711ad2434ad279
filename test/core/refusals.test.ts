import { afterEach, describe, expect, it, vi } from 'vitest';
import { RefusalReporter } from '../../core/refusals.js';

afterEach(() => vi.useRealTimers());

describe('RefusalReporter', () => {
  it('reports the first refusal at once, and those within the minute when it ends, with their count and reasons', () => {
    vi.useFakeTimers();
    const reports: Array<[string, string, number]> = [];
    const r = new RefusalReporter((source, why, n) => reports.push([source, why, n]), Date.now);
    r.refused('webhook', 'secret token missing');
    expect(reports).toEqual([['webhook', 'secret token missing', 1]]);
    vi.advanceTimersByTime(1_000);
    r.refused('webhook', 'secret token wrong');
    r.refused('webhook', 'secret token wrong');
    r.refused('webhook', 'secret token missing');
    expect(reports).toHaveLength(1);
    // No later refusal comes: the minute's end reports them all the same.
    vi.advanceTimersByTime(59_000);
    expect(reports[1]).toEqual(['webhook', 'secret token wrong (2 times); secret token missing', 3]);
    vi.advanceTimersByTime(120_000);
    expect(reports).toHaveLength(2);
    // A quiet minute later, the next one is reported at once again.
    r.refused('webhook', 'secret token wrong');
    expect(reports[2]).toEqual(['webhook', 'secret token wrong', 1]);
  });

  it('keeps ten reasons apart in a report and counts the rest together: a caller cannot make one entry grow', () => {
    vi.useFakeTimers();
    const reports: Array<[string, string, number]> = [];
    const r = new RefusalReporter((source, why, n) => reports.push([source, why, n]), Date.now);
    r.refused('webhooks', 'first');
    for (let i = 0; i < 5_000; i++) r.refused('webhooks', `payload over the limit (/webhooks/x${i})`);
    vi.advanceTimersByTime(60_000);
    const [, why, count] = reports[1]!;
    expect(count).toBe(5_000);
    expect(why.split('; ')).toHaveLength(11);
    expect(why).toMatch(/; other reasons \(4990 times\)$/);
  });

  it('reports what every reporter still counts when the process flushes them on its way out, and waits for the writes', async () => {
    vi.useFakeTimers();
    const written: string[] = [];
    const slowWrite = (line: string) => new Promise<void>((resolve) => setImmediate(() => (written.push(line), resolve())));
    const a = new RefusalReporter((source, why, n) => slowWrite(`${source} ${why} ${n}`), Date.now);
    const b = new RefusalReporter((source, why, n) => slowWrite(`${source} ${why} ${n}`), Date.now);
    a.refused('webhook', 'secret token missing');
    a.refused('webhook', 'secret token wrong');
    b.refused('api:k1', '401');
    b.refused('api:k1', '401');
    vi.useRealTimers();
    await RefusalReporter.flushAll();
    expect(written).toEqual(expect.arrayContaining(['webhook secret token wrong 1', 'api:k1 401 1']));
    // Nothing is reported twice: a second flush finds nothing waiting.
    const before = written.length;
    await RefusalReporter.flushAll();
    expect(written).toHaveLength(before);
  });

  it('keeps sources apart, and reports what a forgotten source counted before forgetting it', () => {
    vi.useFakeTimers();
    const reports: Array<[string, string, number]> = [];
    const r = new RefusalReporter((source, why, n) => reports.push([source, why, n]), Date.now, 60_000, 2);
    r.refused('a', 'x');
    r.refused('a', 'x');
    r.refused('b', 'y');
    r.refused('c', 'z');
    expect(reports).toEqual([
      ['a', 'x', 1],
      ['b', 'y', 1],
      ['c', 'z', 1],
      ['a', 'x', 1],
    ]);
  });
});
