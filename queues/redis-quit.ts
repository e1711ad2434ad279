import type { Redis } from 'ioredis';
import { settlesWithin } from '../core/deadline.js';

/** How long a shutdown step may wait on Redis before it is given up on. */
export const QUIT_MS = 1_000;

/** QUIT, or a plain disconnect when Redis does not answer (a QUIT sent while offline waits for a reconnect forever). */
export async function quitRedis(redis: Redis): Promise<void> {
  if (!(await settlesWithin(redis.quit().catch(() => undefined), QUIT_MS))) redis.disconnect();
}
