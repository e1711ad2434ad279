/**
 * Tests use the bench's throwaway redis-server (`bench/redis.ts`): a free loopback port, persistence off, never the
 * shared 6379 instance, and a clear message telling how to install redis-server when it is missing.
 */
export { startRedis, type BenchRedis as RedisServer } from '../../bench/redis.js';
