import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { LimiterStore, LimiterTake } from '../core/rate-limiter.js';

/**
 * core/rate-limiter.ts `takeToken` in Lua: Redis runs a script without interleaving other commands, so the
 * read-refill-spend-write of one key is atomic across every process sharing the server. The hash expires when
 * the bucket would be full again, since a missing bucket is a full one.
 */
const TAKE = `
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local h = redis.call('HMGET', KEYS[1], 't', 'u', 'd')
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
redis.call('HSET', KEYS[1], 't', string.format('%.17g', tokens), 'u', string.format('%d', updated), 'd', denied)
redis.call('PEXPIRE', KEYS[1], math.ceil((capacity - tokens) / rate))
return {allowed, first}
`;
const TAKE_SHA = createHash('sha1').update(TAKE).digest('hex');

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
    if (!(capacity >= 1) || !(refillPerMs > 0)) throw new RangeError(`bad bucket: capacity ${capacity}, refill ${refillPerMs}/ms`);
    const args = [this.prefix + key, capacity, refillPerMs, Math.floor(now)] as const;
    let reply: unknown;
    try {
      reply = await this.redis.evalsha(TAKE_SHA, 1, ...args);
    } catch (error) {
      // The script cache is empty after a restart or SCRIPT FLUSH; EVAL loads it again.
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      reply = await this.redis.eval(TAKE, 1, ...args);
    }
    if (!Array.isArray(reply) || reply.length !== 2) throw new Error(`rate limiter script returned ${JSON.stringify(reply)}`);
    return { allowed: reply[0] === 1, firstDenial: reply[1] === 1 };
  }
}
