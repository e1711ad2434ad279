import type { Statement } from 'better-sqlite3';
import { GroupCommit, openSharedDb, rowsInsert, type Db } from '../db.js';
import { takeToken, type BucketRequest, type BucketState, type LimiterStore, type LimiterTake } from '../rate-limiter.js';

const PRUNE_EVERY_MS = 60_000;

interface Row {
  key: string;
  tokens: number;
  updated_at: number;
  denied: number;
}

/**
 * Token buckets in the data dir's SQLite file (table `rate_limits`, migration 002). Each take is one IMMEDIATE
 * transaction: the write lock is taken before the bucket is read, so two processes can never both spend the
 * last token. The file must already be migrated.
 */
export class SqliteLimiter implements LimiterStore {
  private readonly db: Db;
  private readonly group: GroupCommit;
  private readonly release?: () => void;
  private statements?: { get: Statement; prune: Statement };
  /** A message's buckets are written in one statement. */
  private readonly put;
  private lastPrune = -Infinity;

  /** A path takes (and `close` releases) the process's shared connection to that file; a `Db` is borrowed. */
  constructor(fileOrDb: string | Db) {
    if (typeof fileOrDb === 'string') {
      const shared = openSharedDb(fileOrDb);
      [this.db, this.group, this.release] = [shared.db, shared.group, () => shared.release()];
    } else {
      this.db = fileOrDb;
      this.group = new GroupCommit(fileOrDb);
    }
    this.put = rowsInsert(
      this.db,
      'INSERT INTO rate_limits (key, tokens, updated_at, denied, full_at)',
      5,
      'ON CONFLICT (key) DO UPDATE SET tokens = excluded.tokens, updated_at = excluded.updated_at, denied = excluded.denied, full_at = excluded.full_at',
    );
  }

  async take(key: string, capacity: number, refillPerMs: number, now: number): Promise<LimiterTake> {
    return (await this.takeMany([{ key, capacity, refillPerMs }], now))[0]!;
  }

  async takeMany(buckets: BucketRequest[], now: number): Promise<LimiterTake[]> {
    if (buckets.length === 0) return [];
    // Prepared on first use, not in the constructor, so a limiter may be built before `migrate` has run.
    const s = (this.statements ??= {
      get: this.db.prepare('SELECT key, tokens, updated_at, denied FROM rate_limits WHERE key IN (SELECT value FROM json_each(?))'),
      prune: this.db.prepare('DELETE FROM rate_limits WHERE full_at <= ?'),
    });
    // Senders' turns running side by side take their tokens in one transaction. Inside it, all of a message's
    // buckets are read in one statement and written in another.
    return this.group.run((): LimiterTake[] => {
      const rows = new Map((s.get.all(JSON.stringify(buckets.map((b) => b.key))) as Row[]).map((r) => [r.key, r]));
      const out: LimiterTake[] = [];
      const writes: unknown[][] = [];
      for (const { key, capacity, refillPerMs } of buckets) {
        const row = rows.get(key);
        const prev: BucketState | undefined = row && { tokens: row.tokens, updatedAt: row.updated_at, denied: row.denied === 1 };
        const { next, result, fullAt } = takeToken(prev, capacity, refillPerMs, now);
        rows.set(key, { key, tokens: next.tokens, updated_at: next.updatedAt, denied: next.denied ? 1 : 0 });
        writes.push([key, next.tokens, next.updatedAt, next.denied ? 1 : 0, fullAt]);
        out.push(result);
        if (!result.allowed) break;
      }
      this.put(writes.length).run(writes.flat());
      // A refilled bucket equals a missing one: dropping those keeps one-off senders from piling up rows.
      if (now - this.lastPrune >= PRUNE_EVERY_MS) {
        s.prune.run(now);
        this.lastPrune = now;
      }
      return out;
    });
  }

  async close(): Promise<void> {
    this.release?.();
  }
}
