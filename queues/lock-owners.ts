import { Job, type Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { goneHere, PROCESS_ID } from '../core/process-identity.js';

/** A live process refreshes its entries this often; one not refreshed for STALE_MS belongs to a process long gone. */
export const REFRESH_MS = 3_600_000;
const STALE_MS = 24 * 3_600_000;

const entrySchema = z.object({ owner: z.string(), queue: z.string(), at: z.number() });
type Entry = z.infer<typeof entrySchema>;

export interface Registered {
  id: string;
  queue: string;
}

/**
 * Which process runs each BullMQ worker, kept in a Redis hash (worker id → owner, partition queue, when). A BullMQ
 * lock's token is `<worker id>:<n>`, so a job locked by a worker of a process on this host that is gone (a SIGKILLed
 * worker the supervisor restarted) can be handed back at once, as the embedded driver breaks such leases, instead of
 * waiting out the lock and the stalled check after it. On any other host, or in another PID namespace, the lock's
 * expiry still decides.
 */
export class LockOwners {
  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** Puts (or keeps) workers on record; called again every REFRESH_MS while they run. */
  async register(workers: Registered[]): Promise<void> {
    if (workers.length === 0) return;
    const at = this.now();
    await this.redis.hset(this.key, Object.fromEntries(workers.map((w) => [w.id, JSON.stringify({ owner: PROCESS_ID, queue: w.queue, at } satisfies Entry)])));
  }

  async forget(workerIds: string[]): Promise<void> {
    if (workerIds.length > 0) await this.redis.hdel(this.key, ...workerIds);
  }

  /**
   * Hands back, at the head of their partitions, the jobs of `queues` locked by workers of a process of this host
   * that is gone; those entries are then dropped, as is any entry nobody refreshed for a day. Entries of other
   * queues are left to those queues' consumers.
   */
  async breakDead<T>(queues: Array<Queue<T>>): Promise<string[]> {
    const mine = new Map(queues.map((q) => [q.name, q]));
    const drop: string[] = [];
    const dead = new Map<string, Queue<T>>();
    for (const [id, raw] of Object.entries(await this.redis.hgetall(this.key))) {
      let entry: Entry;
      try {
        entry = entrySchema.parse(JSON.parse(raw));
      } catch {
        drop.push(id);
        continue;
      }
      const queue = mine.get(entry.queue);
      if (entry.at < this.now() - STALE_MS) drop.push(id);
      else if (queue && goneHere(entry.owner)) dead.set(id, queue);
    }
    const handedBack: string[] = [];
    for (const queue of new Set(dead.values())) {
      for (const jobId of await this.redis.lrange(queue.toKey('active'), 0, -1)) {
        const token = await this.redis.get(`${queue.toKey(jobId)}:lock`);
        if (!token || !dead.has(token.slice(0, token.lastIndexOf(':')))) continue;
        const job = await Job.fromId(queue, jobId);
        // With the dead worker's own token: a lock taken over meanwhile is left alone (the move then fails).
        if (job && (await job.moveToWait(token).then(() => true, () => false))) handedBack.push(jobId);
      }
    }
    await this.forget([...drop, ...dead.keys()]);
    return handedBack;
  }
}
