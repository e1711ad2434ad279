/**
 * Token buckets behind a store so every worker process draws from the same bucket. A bucket starts full
 * (`capacity` tokens), refills continuously at `refillPerMs` tokens per millisecond up to `capacity`, and each
 * take spends one token. A missing bucket is a full one, so stores may forget buckets that have refilled.
 */
export interface LimiterTake {
  allowed: boolean;
  /**
   * True on the first denial since the bucket last allowed a take: the one moment a notice may be sent,
   * so a limited sender hears about it once per limited period rather than once per message.
   */
  firstDenial: boolean;
}

export interface LimiterStore {
  /** Atomic per key, across every process sharing the store. `now` is in milliseconds (injected for tests). */
  take(key: string, capacity: number, refillPerMs: number, now: number): Promise<LimiterTake>;
  /**
   * Takes from several buckets in order, stopping at the first denial, atomically where the store can (one
   * transaction, one script): the per-message cost of a rate limit is one round trip, not one per bucket.
   */
  takeMany?(buckets: BucketRequest[], now: number): Promise<LimiterTake[]>;
}

export interface BucketRequest {
  key: string;
  capacity: number;
  refillPerMs: number;
}

/** takeMany for any store: one take after another. */
export async function takeInOrder(store: LimiterStore, buckets: BucketRequest[], now: number): Promise<LimiterTake[]> {
  if (store.takeMany) return store.takeMany(buckets, now);
  const out: LimiterTake[] = [];
  for (const b of buckets) {
    const t = await store.take(b.key, b.capacity, b.refillPerMs, now);
    out.push(t);
    if (!t.allowed) break;
  }
  return out;
}

export interface BucketState {
  tokens: number;
  updatedAt: number;
  denied: boolean;
}

/**
 * The bucket arithmetic every store applies inside its own atomic section (the Redis Lua script mirrors it).
 * A clock that steps backwards (another host's skew) never mints tokens: elapsed time is clamped at zero.
 */
export function takeToken(
  prev: BucketState | undefined,
  capacity: number,
  refillPerMs: number,
  now: number,
): { next: BucketState; result: LimiterTake; fullAt: number } {
  if (!(capacity >= 1) || !(refillPerMs > 0)) throw new RangeError(`bad bucket: capacity ${capacity}, refill ${refillPerMs}/ms`);
  const start = prev ?? { tokens: capacity, updatedAt: now, denied: false };
  const elapsed = Math.max(0, now - start.updatedAt);
  const updatedAt = Math.max(now, start.updatedAt);
  const tokens = Math.min(capacity, start.tokens + elapsed * refillPerMs);
  const next: BucketState =
    tokens >= 1 ? { tokens: tokens - 1, updatedAt, denied: false } : { tokens, updatedAt, denied: true };
  const result = { allowed: tokens >= 1, firstDenial: tokens < 1 && !start.denied };
  // When the bucket is full again it equals a missing one: the time after which a store may drop it.
  const fullAt = updatedAt + Math.ceil((capacity - next.tokens) / refillPerMs);
  return { next, result, fullAt };
}

/** One process only (tests, a single-process gateway): the reference behaviour of the shared stores. */
export class MemoryLimiter implements LimiterStore {
  private readonly buckets = new Map<string, { state: BucketState; fullAt: number }>();

  async take(key: string, capacity: number, refillPerMs: number, now: number): Promise<LimiterTake> {
    const { next, result, fullAt } = takeToken(this.buckets.get(key)?.state, capacity, refillPerMs, now);
    this.buckets.set(key, { state: next, fullAt });
    // A flood of one-off senders must not grow the map without end: refilled buckets are forgettable.
    if (this.buckets.size > 10_000) for (const [k, b] of this.buckets) if (b.fullAt <= now) this.buckets.delete(k);
    return result;
  }
}
