import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { BucketRequest, LimiterStore, LimiterTake } from '../core/rate-limiter.js';

/**
 * core/rate-limiter.ts `takeToken` in Lua, over the buckets in order until one denies: Redis runs a script without interleaving other commands, so the
 * read-refill-spend-write of one key is atomic across every process sharing the server. The hash expires when
 * the bucket would be full again, since a missing bucket is a full one.
 */
const TAKE_MANY = `
local now = tonumber(ARGV[1])
local out = {}
for i = 1, #KEYS do
  local capacity = tonumber(ARGV[2 * i])
  local rate = tonumber(ARGV[2 * i + 1])
  local h = redis.call('HMGET', KEYS[i], 't', 'u', 'd')
  local tokens, updated, denied = capacity, now, 0
  if h[1] then
    tokens = tonumber(h[1]); updated = tonumber(h[2]); denied = tonumber(h[3])
  end
  local elapsed = now - updated
  if elapsed < 0 then elapsed = 0 end
  if now > updated then updated = now end
  tokens = math.min(capacity, tokens + elapsed * rate)
  local allowed, first = 0, 0
  if tokens >= 1 then
    tokens = tokens - 1; allowed = 1; denied = 0
  else
    if denied == 0 then first = 1 end
    denied = 1
  end
  redis.call('HSET', KEYS[i], 't', string.format('%.17g', tokens), 'u', string.format('%d', updated), 'd', denied)
  redis.call('PEXPIRE', KEYS[i], math.ceil((capacity - tokens) / rate))
  out[#out + 1] = allowed
  out[#out + 1] = first
  if allowed == 0 then break end
end
return out
`;
const TAKE_MANY_SHA = createHash('sha1').update(TAKE_MANY).digest('hex');

export interface RedisLimiterOptions {
  /** Prepended to every bucket key; limiters sharing it share buckets. */
  prefix?: string;
}

/** Token buckets in Redis, for workers spread over several processes or machines. The client is borrowed. */
export class RedisLimiter implements LimiterStore {
  private readonly prefix: string;

  constructor(
    private readonly redis: Redis,
    options: RedisLimiterOptions = {},
  ) {
    this.prefix = options.prefix ?? 'monkeyclaw:rl:';
  }

  async take(key: string, capacity: number, refillPerMs: number, now: number): Promise<LimiterTake> {
    return (await this.takeMany([{ key, capacity, refillPerMs }], now))[0]!;
  }

  /** Every bucket of a message in one script call: one round trip per message, whatever the number of limits. */
  async takeMany(buckets: BucketRequest[], now: number): Promise<LimiterTake[]> {
    for (const { capacity, refillPerMs } of buckets) {
      if (!(capacity >= 1) || !(refillPerMs > 0)) throw new RangeError(`bad bucket: capacity ${capacity}, refill ${refillPerMs}/ms`);
    }
    if (buckets.length === 0) return [];
    const keys = buckets.map((b) => this.prefix + b.key);
    const args = [Math.floor(now), ...buckets.flatMap((b) => [b.capacity, b.refillPerMs])];
    let reply: unknown;
    try {
      reply = await this.redis.evalsha(TAKE_MANY_SHA, keys.length, ...keys, ...args);
    } catch (error) {
      // The script cache is empty after a restart or SCRIPT FLUSH; EVAL loads it again.
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      reply = await this.redis.eval(TAKE_MANY, keys.length, ...keys, ...args);
    }
    if (!Array.isArray(reply) || reply.length === 0 || reply.length % 2 !== 0 || reply.length > 2 * buckets.length) {
      throw new Error(`rate limiter script returned ${JSON.stringify(reply)}`);
    }
    const out: LimiterTake[] = [];
    for (let i = 0; i < reply.length; i += 2) out.push({ allowed: reply[i] === 1, firstDenial: reply[i + 1] === 1 });
    return out;
  }
}
