import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, openDb } from '../../core/db.js';
import { MemoryLimiter, takeInOrder, type LimiterStore } from '../../core/rate-limiter.js';
import { SqliteLimiter } from '../../core/sqlite/limiter.js';
import { RedisLimiter } from '../../queues/redis-limiter.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';

const PER_MINUTE = (n: number) => n / 60_000;
const T0 = 1_700_000_000_000;

/** Two handles on one shared store, as two worker processes would have; `cleanup` closes both. */
interface Pair {
  a: LimiterStore;
  b: LimiterStore;
  cleanup(): Promise<void>;
}

async function takeMany(store: LimiterStore, key: string, n: number, capacity: number, now: number) {
  const out = [];
  for (let i = 0; i < n; i++) out.push(await store.take(key, capacity, PER_MINUTE(capacity), now));
  return out;
}

const allow = { allowed: true, firstDenial: false };
const deny = (first: boolean) => ({ allowed: false, firstDenial: first });

/** The behaviour every store must share; each store runs it. */
function limiterContract(name: string, open: () => Promise<Pair>) {
  describe(`${name} limiter`, () => {
    let pair: Pair;
    let key: string;
    beforeAll(async () => {
      pair = await open();
    });
    afterAll(async () => pair.cleanup());
    const fresh = () => (key = `k-${Math.random().toString(36).slice(2)}`);

    it('allows a full bucket (the burst), then denies', async () => {
      fresh();
      const r = await takeMany(pair.a, key, 6, 5, T0);
      expect(r.map((x) => x.allowed)).toEqual([true, true, true, true, true, false]);
    });

    it('reports the first denial once per limited period', async () => {
      fresh();
      const r = await takeMany(pair.a, key, 5, 2, T0);
      expect(r.map((x) => x.firstDenial)).toEqual([false, false, true, false, false]);
      // 30 s refills one token at 2/min: allowed, which ends the limited period…
      expect(await pair.a.take(key, 2, PER_MINUTE(2), T0 + 30_000)).toEqual({ allowed: true, firstDenial: false });
      // …so the next denial is a first one again.
      expect(await pair.a.take(key, 2, PER_MINUTE(2), T0 + 30_000)).toEqual({ allowed: false, firstDenial: true });
    });

    it('refills at the configured rate with an injected clock, never above capacity', async () => {
      fresh();
      await takeMany(pair.a, key, 3, 3, T0);
      expect((await pair.a.take(key, 3, PER_MINUTE(3), T0 + 19_999)).allowed).toBe(false);
      expect((await pair.a.take(key, 3, PER_MINUTE(3), T0 + 20_000)).allowed).toBe(true);
      // An hour idle refills to 3, not to 180.
      const later = await takeMany(pair.a, key, 4, 3, T0 + 3_600_000);
      expect(later.map((x) => x.allowed)).toEqual([true, true, true, false]);
    });

    it('does not mint tokens when the clock steps backwards', async () => {
      fresh();
      await takeMany(pair.a, key, 2, 2, T0 + 60_000);
      expect((await pair.a.take(key, 2, PER_MINUTE(2), T0)).allowed).toBe(false);
      expect((await pair.a.take(key, 2, PER_MINUTE(2), T0 + 60_000)).allowed).toBe(false);
      // Nor does it put the bucket into debt: 30 s later one token is back, as if the step never happened.
      expect((await pair.a.take(key, 2, PER_MINUTE(2), T0 + 90_000)).allowed).toBe(true);
    });

    it('keeps keys apart', async () => {
      fresh();
      const other = `${key}-other`;
      await takeMany(pair.a, key, 1, 1, T0);
      expect((await pair.a.take(key, 1, PER_MINUTE(1), T0)).allowed).toBe(false);
      expect((await pair.a.take(other, 1, PER_MINUTE(1), T0)).allowed).toBe(true);
    });

    it('shares one bucket between two handles (two workers)', async () => {
      fresh();
      const results = [];
      for (let i = 0; i < 10; i++) results.push(await (i % 2 ? pair.b : pair.a).take(key, 6, PER_MINUTE(6), T0));
      expect(results.filter((r) => r.allowed)).toHaveLength(6);
      expect(results.filter((r) => r.firstDenial)).toHaveLength(1);
    });

    it('never over-grants under concurrent takes from both handles', async () => {
      fresh();
      const all = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? pair.b : pair.a).take(key, 10, PER_MINUTE(10), T0)));
      expect(all.filter((r) => r.allowed)).toHaveLength(10);
      expect(all.filter((r) => r.firstDenial)).toHaveLength(1);
    });

    it('takes several buckets in order, stopping at the first that denies (later ones are not charged)', async () => {
      const [k1, k2, k3] = [fresh(), fresh(), fresh()];
      const buckets = [
        { key: k1, capacity: 5, refillPerMs: PER_MINUTE(5) },
        { key: k2, capacity: 1, refillPerMs: PER_MINUTE(1) },
        { key: k3, capacity: 5, refillPerMs: PER_MINUTE(5) },
      ];
      expect(await takeInOrder(pair.a, buckets, T0)).toEqual([allow, allow, allow]);
      expect(await takeInOrder(pair.b, buckets, T0)).toEqual([allow, { allowed: false, firstDenial: true }]);
      // k3 spent one token only: four are left of five.
      expect(await takeMany(pair.a, k3, 5, 5, T0)).toEqual([allow, allow, allow, allow, deny(true)]);
    });

    it('charges a key named twice in one take twice', async () => {
      const k = fresh();
      const bucket = { key: k, capacity: 3, refillPerMs: PER_MINUTE(3) };
      expect(await takeInOrder(pair.a, [bucket, bucket], T0)).toEqual([allow, allow]);
      expect(await takeInOrder(pair.b, [bucket, bucket], T0)).toEqual([allow, { allowed: false, firstDenial: true }]);
    });

    it('refuses a nonsensical bucket', async () => {
      await expect(pair.a.take('x', 0, 1, T0)).rejects.toThrow(RangeError);
      await expect(pair.a.take('x', 5, 0, T0)).rejects.toThrow(RangeError);
    });
  });
}

limiterContract('memory', async () => {
  const m = new MemoryLimiter();
  return { a: m, b: m, cleanup: async () => undefined };
});

const tempDirs: string[] = [];
function migratedFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mc-rl-'));
  tempDirs.push(dir);
  const file = join(dir, 'monkeyclaw.db');
  const db = openDb(file);
  migrate(db);
  db.close();
  return file;
}
afterAll(() => tempDirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

limiterContract('sqlite (two connections on one file)', async () => {
  const file = migratedFile();
  const a = new SqliteLimiter(file);
  const b = new SqliteLimiter(file);
  return { a, b, cleanup: async () => (await a.close(), await b.close()) };
});

describe('sqlite limiter housekeeping', () => {
  it('deletes buckets once they have refilled, so one-off senders do not pile up', async () => {
    const file = migratedFile();
    const limiter = new SqliteLimiter(file);
    const db = openDb(file);
    const rows = () => db.prepare('SELECT key FROM rate_limits ORDER BY key').pluck().all();
    await limiter.take('old', 2, PER_MINUTE(2), T0);
    await limiter.take('old', 2, PER_MINUTE(2), T0 + 1_000);
    expect(rows()).toEqual(['old']);
    // Two minutes on, 'old' is full again; the next take (any key) may forget it.
    await limiter.take('new', 2, PER_MINUTE(2), T0 + 120_000);
    expect(rows()).toEqual(['new']);
    // A forgotten bucket behaves as a full one.
    expect((await takeMany(limiter, 'old', 3, 2, T0 + 120_000)).map((r) => r.allowed)).toEqual([true, true, false]);
    db.close();
    await limiter.close();
  });

  it('waits for another process holding the write lock and sees its write', async () => {
    const file = migratedFile();
    const limiter = new SqliteLimiter(file);
    // Another process exhausts the bucket inside an IMMEDIATE transaction and commits 300 ms later.
    const child = spawn(process.execPath, ['-e', `
      const db = new (require('better-sqlite3'))(process.argv[1]);
      db.pragma('journal_mode = WAL');
      db.exec('BEGIN IMMEDIATE');
      db.prepare("INSERT INTO rate_limits (key, tokens, updated_at, denied, full_at) VALUES ('k', 0, ${T0}, 0, ${T0 + 60_000})").run();
      process.stdout.write('locked\\n');
      setTimeout(() => { db.exec('COMMIT'); db.close(); }, 300);
    `, file], { stdio: ['ignore', 'pipe', 'inherit'] });
    await once(child.stdout, 'data');
    const started = Date.now();
    const taken = await limiter.take('k', 5, PER_MINUTE(5), T0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
    expect(taken).toEqual({ allowed: false, firstDenial: true });
    await once(child, 'exit');
    await limiter.close();
  });

  it('borrows a Db without closing it', async () => {
    const db = openDb(migratedFile());
    const limiter = new SqliteLimiter(db);
    expect((await limiter.take('k', 1, 1, T0)).allowed).toBe(true);
    await limiter.close();
    expect(db.open).toBe(true);
    db.close();
  });
});

describe('redis limiter', () => {
  let server: RedisServer;
  const clients: Redis[] = [];
  const client = () => {
    const c = new Redis(server.url, { lazyConnect: false, maxRetriesPerRequest: 1 });
    clients.push(c);
    return c;
  };
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.quit().catch(() => undefined)));
    await server?.stop();
  });

  limiterContract('redis (two clients)', async () => {
    const prefix = `test-${Math.random().toString(36).slice(2)}:`;
    return { a: new RedisLimiter(client(), { prefix }), b: new RedisLimiter(client(), { prefix }), cleanup: async () => undefined };
  });

  it('stores under its prefix and lets a bucket expire when it would be full again', async () => {
    const redis = client();
    const limiter = new RedisLimiter(redis, { prefix: 'p1:' });
    await limiter.take('sender:telegram:42', 60, PER_MINUTE(60), Date.now());
    expect(await redis.keys('p1:*')).toEqual(['p1:sender:telegram:42']);
    // One token spent at 60/min refills in 1 s.
    const ttl = await redis.pttl('p1:sender:telegram:42');
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(1_000);
  });

  it('different prefixes do not share buckets', async () => {
    const redis = client();
    const a = new RedisLimiter(redis, { prefix: 'pa:' });
    const b = new RedisLimiter(redis, { prefix: 'pb:' });
    expect((await a.take('k', 1, PER_MINUTE(1), T0)).allowed).toBe(true);
    expect((await a.take('k', 1, PER_MINUTE(1), T0)).allowed).toBe(false);
    expect((await b.take('k', 1, PER_MINUTE(1), T0)).allowed).toBe(true);
  });

  it('reloads its script after SCRIPT FLUSH (a restarted server)', async () => {
    const redis = client();
    const limiter = new RedisLimiter(redis, { prefix: 'flush:' });
    expect((await limiter.take('k', 2, PER_MINUTE(2), T0)).allowed).toBe(true);
    await redis.script('FLUSH');
    expect((await limiter.take('k', 2, PER_MINUTE(2), T0)).allowed).toBe(true);
    expect((await limiter.take('k', 2, PER_MINUTE(2), T0)).allowed).toBe(false);
  });
});
