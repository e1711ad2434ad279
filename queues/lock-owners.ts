import { Job, type Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { HOST, processAlive } from './process-alive.js';

const ownerOf = (entry: string): { host: string; pid: number } => {
  const at = entry.lastIndexOf('/');
  return { host: entry.slice(0, at), pid: Number(entry.slice(at + 1)) };
};

/**
 * Which process runs each BullMQ worker, kept in a Redis hash (worker id → `host/pid`). A BullMQ lock's token is
 * `<worker id>:<n>`, so a job locked by a worker whose process on this host no longer exists (a SIGKILLed worker
 * the supervisor restarted) can be handed back at once, as the embedded driver breaks such leases, instead of
 * waiting out the lock duration and the stalled check after it. Elsewhere, the lock's expiry still decides.
 */
export class LockOwners {
  constructor(
    private readonly redis: Redis,
    private readonly key: string,
  ) {}

  async register(workerIds: string[]): Promise<void> {
    if (workerIds.length === 0) return;
    const me = `${HOST}/${process.pid}`;
    await this.redis.hset(this.key, Object.fromEntries(workerIds.map((id) => [id, me])));
  }

  async forget(workerIds: string[]): Promise<void> {
    if (workerIds.length > 0) await this.redis.hdel(this.key, ...workerIds);
  }

  /** Hands back, at the head of their partitions, the jobs of `queues` locked by dead workers of this host. */
  async breakDead<T>(queues: Array<Queue<T>>): Promise<string[]> {
    const dead = new Set(
      Object.entries(await this.redis.hgetall(this.key))
        .filter(([, entry]) => {
          const { host, pid } = ownerOf(entry);
          return host === HOST && pid !== process.pid && Number.isInteger(pid) && !processAlive(pid);
        })
        .map(([id]) => id),
    );
    if (dead.size === 0) return [];
    const handedBack: string[] = [];
    for (const queue of queues) {
      for (const jobId of await this.redis.lrange(queue.toKey('active'), 0, -1)) {
        const token = await this.redis.get(`${queue.toKey(jobId)}:lock`);
        if (!token || !dead.has(token.slice(0, token.lastIndexOf(':')))) continue;
        const job = await Job.fromId(queue, jobId);
        // With the dead worker's own token: a lock taken over meanwhile is left alone (the move then fails).
        if (job && (await job.moveToWait(token).then(() => true, () => false))) handedBack.push(jobId);
      }
    }
    await this.forget([...dead]);
    return handedBack;
  }
}
