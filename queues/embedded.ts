import { join, dirname } from 'node:path';
import { randomBytes } from 'node:crypto';
import { openSharedDb, type Db, type GroupCommit, type SharedDb, write } from '../core/db.js';
import {
  DEDUPE_RETENTION_MS,
  type ConsumeOptions,
  type Consumer,
  type DeadLetter,
  type HopNext,
  type HopResult,
  type Job,
  type JobHandler,
  type JobInput,
  type QueueDepth,
  type QueueDriver,
} from '../core/queue.js';
import { EmbeddedConsumer } from './embedded-consumer.js';
import { NOT_JSON, parsedOr, type ClaimedJob } from './embedded-job.js';
import { goneHere, PROCESS_ID } from '../core/process-identity.js';
import { Nudger } from './nudge.js';

interface JobRow {
  seq: number;
  job_id: string;
  partition: string;
  payload: string;
}

export interface EmbeddedOptions {
  /** The gateway's SQLite file; the queue tables come from the same migrations. */
  file: string;
  /** Where the Unix sockets for cross-process wake-ups live; defaults to `run/` beside the file. */
  runDir?: string;
  /** How long a claimed job stays leased without renewal before another consumer may take it. */
  leaseMs?: number;
}

/**
 * The default queue: durable jobs in the gateway's SQLite file, so `npm start` needs nothing else installed.
 * A job is claimed by leasing it; only the oldest job of a partition can be claimed, which gives per-conversation
 * order across every process sharing the file. A lease held by a dead process on this host is broken at once.
 */
export class EmbeddedDriver implements QueueDriver {
  readonly name = 'embedded' as const;
  /** The data dir's own file: every process on it shares these queues. */
  readonly where = 'the embedded queue';
  private readonly connection: SharedDb;
  private readonly db: Db;
  /** Acks and enqueues of jobs finishing side by side share one transaction per loop turn. */
  private readonly group: GroupCommit;
  private readonly nudger: Nudger;
  private readonly owner = `${PROCESS_ID}/${randomBytes(4).toString('hex')}`;
  private readonly leaseMs: number;
  private readonly consumers = new Set<EmbeddedConsumer>();
  private readonly stmts;

  constructor(options: EmbeddedOptions) {
    this.connection = openSharedDb(options.file);
    this.db = this.connection.db;
    this.group = this.connection.group;
    this.leaseMs = options.leaseMs ?? 30_000;
    this.nudger = new Nudger(options.runDir ?? join(dirname(options.file), 'run'));
    const db = this.db;
    this.stmts = {
      insert: db.prepare(`INSERT INTO queue_jobs (queue, job_id, partition, payload, enqueued_at)
        SELECT @queue, @id, @partition, @payload, @now
        WHERE NOT EXISTS (SELECT 1 FROM queue_seen WHERE queue = @queue AND job_id = @id)
        ON CONFLICT (queue, job_id) DO NOTHING`),
      // Each partition's oldest job, oldest first, from the heads the triggers keep (migration 011): the scan
      // passes only heads in flight, whatever the backlog behind them.
      heads: db.prepare(`SELECT j.seq, j.job_id, j.partition, j.payload FROM queue_heads AS h JOIN queue_jobs AS j ON j.seq = h.seq
        WHERE h.queue = @queue AND (j.lease_until IS NULL OR j.lease_until < @now)
        ORDER BY h.seq LIMIT @limit`),
      // Only those still unleased: the heads were read before the write lock was taken.
      lease: db.prepare(`UPDATE queue_jobs SET lease_owner = @owner, lease_until = @until, deliveries = deliveries + 1
        WHERE seq IN (SELECT value FROM json_each(@seqs)) AND (lease_until IS NULL OR lease_until < @now) RETURNING seq, deliveries`),
      renew: db.prepare('UPDATE queue_jobs SET lease_until = @until WHERE lease_owner = @owner'),
      release: db.prepare(`UPDATE queue_jobs SET lease_owner = NULL, lease_until = NULL, deliveries = MAX(deliveries - 1, 0)
        WHERE seq = @seq AND lease_owner = @owner`),
      remove: db.prepare('DELETE FROM queue_jobs WHERE seq = ? AND lease_owner = ?'),
      seen: db.prepare('INSERT OR REPLACE INTO queue_seen (queue, job_id, done_at) VALUES (?, ?, ?)'),
      dead: db.prepare(`INSERT INTO queue_dead (queue, job_id, partition, payload, attempts, error, dead_at)
        VALUES (?, ?, ?, ?, ?, ?, ?)`),
      leaseOwners: db.prepare('SELECT DISTINCT lease_owner FROM queue_jobs WHERE lease_owner IS NOT NULL').pluck(),
      breakLeases: db.prepare('UPDATE queue_jobs SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?'),
      prune: db.prepare('DELETE FROM queue_seen WHERE done_at < ?'),
    };
  }

  async enqueue(queue: string, jobs: JobInput[]): Promise<void> {
    await this.group.run(() => this.insertJobs(jobs.map((job) => ({ queue, job }))));
    this.nudger.notify([queue]);
  }

  private insertJobs(items: Array<{ queue: string; job: JobInput }>): void {
    const now = Date.now();
    write(this.db, () => {
      for (const { queue, job } of items) {
        this.stmts.insert.run({ queue, id: job.id, partition: job.partition, payload: JSON.stringify(job.payload ?? null), now });
      }
    });
  }

  consume(queue: string, handler: JobHandler, options: ConsumeOptions = {}): Consumer {
    void this.nudger.listen();
    const consumer = new EmbeddedConsumer(this, queue, handler, options);
    this.consumers.add(consumer);
    consumer.start();
    return {
      close: async (drainMs) => {
        await consumer.close(drainMs);
        this.consumers.delete(consumer);
      },
    };
  }

  /**
   * Leases up to `limit` partition heads of `queue`. The heads are found before the write lock is taken (a WAL
   * reader never waits, and that query is most of a claim's cost) and leased, in one statement, only if still free:
   * a head stays its partition's head until it is removed, so a job leased here is always the oldest of its
   * partition. The lease joins the process's group commit, with the acks of the jobs that just finished.
   */
  async claim(queue: string, limit: number): Promise<Job[]> {
    const now = Date.now();
    const heads = this.stmts.heads.all({ queue, now, limit }) as JobRow[];
    if (heads.length === 0) return [];
    const until = now + this.leaseMs;
    const seqs = JSON.stringify(heads.map((h) => h.seq));
    const leased = await this.group.run(() => this.stmts.lease.all({ owner: this.owner, until, now, seqs }) as Array<{ seq: number; deliveries: number }>);
    const deliveries = new Map(leased.map((l) => [l.seq, l.deliveries]));
    return heads.flatMap((row): ClaimedJob[] => {
      const attempt = deliveries.get(row.seq);
      if (attempt === undefined) return [];
      // A row whose payload is not JSON (written by something else than this driver) is still a job: its handler
      // refuses the payload, and it is dead-lettered as it was stored. Thrown here, it would strand the whole batch.
      return [{ queue, id: row.job_id, partition: row.partition, payload: parsedOr(row.payload, NOT_JSON), attempt, seq: row.seq, stored: row.payload }];
    });
  }

  /**
   * Acknowledges a job and enqueues its follow-ups in the same transaction: one commit per hop. A handler's commit
   * that writes through this connection joins that transaction (DESIGN: ack, dedupe, history, audit and the next
   * enqueue in one); any other is made first, on its own.
   */
  async complete(job: ClaimedJob, result: HopResult): Promise<void> {
    const joined = result.commit?.joinable?.connection === this.db ? result.commit.joinable : undefined;
    const made = result.commit && !joined ? await result.commit.commit() : result.next;
    let next: HopNext = [];
    const kept = await this.group.run(() => {
      // A lease lost meanwhile (handed back on shutdown) means another consumer owns the job now, and its commit.
      if (this.stmts.remove.run(job.seq, this.owner).changes === 0) return false;
      this.stmts.seen.run(job.queue, job.id, Date.now());
      next = (joined ? joined.write() : made) ?? [];
      if (next.length) this.insertJobs(next);
      return true;
    });
    if (kept && next.length) this.nudger.notify(next.map((n) => n.queue));
  }

  /** The payload is kept as it was stored: one nested too deep for JSON.stringify is dead-lettered all the same. */
  async deadLetter(job: ClaimedJob, error: string, attempts: number): Promise<void> {
    await this.group.run(() => {
      if (this.stmts.remove.run(job.seq, this.owner).changes === 0) return;
      this.stmts.seen.run(job.queue, job.id, Date.now());
      this.stmts.dead.run(job.queue, job.id, job.partition, job.stored, attempts, error.slice(0, 2000), new Date().toISOString());
    });
  }

  release(seqs: number[]): void {
    write(this.db, () => {
      for (const seq of seqs) this.stmts.release.run({ seq, owner: this.owner });
    });
  }

  /**
   * Housekeeping runs from timers, through the group commit like every other write: a database locked by another
   * process then delays it (the event loop goes on) instead of blocking, and a lock held past the deadline fails
   * this round only, never the process.
   */
  async renewLeases(): Promise<void> {
    await this.group.run(() => this.stmts.renew.run({ owner: this.owner, until: Date.now() + this.leaseMs }));
  }

  /** Frees leases held by processes on this host that no longer exist (a SIGKILLed worker), so restart is instant. */
  async breakDeadLeases(): Promise<void> {
    const dead = (this.stmts.leaseOwners.all() as string[]).filter((owner) => owner !== this.owner && goneHere(owner));
    await this.group.run(() => {
      for (const owner of dead) this.stmts.breakLeases.run(owner);
      this.stmts.prune.run(Date.now() - DEDUPE_RETENTION_MS);
    });
  }

  onWake(listener: (queue: string) => void): () => void {
    this.nudger.on('wake', listener);
    return () => this.nudger.off('wake', listener);
  }

  get lease(): number {
    return this.leaseMs;
  }

  async depth(queue: string): Promise<QueueDepth> {
    const row = this.db
      .prepare(`SELECT
          (SELECT COUNT(*) FROM queue_jobs WHERE queue = @queue AND (lease_until IS NULL OR lease_until < @now)) AS waiting,
          (SELECT COUNT(*) FROM queue_jobs WHERE queue = @queue AND lease_until >= @now) AS active,
          (SELECT COUNT(*) FROM queue_dead WHERE queue = @queue) AS dead`)
      .get({ queue, now: Date.now() }) as QueueDepth;
    return { waiting: row.waiting, active: row.active, dead: row.dead };
  }

  async deadLetters(limit = 100): Promise<DeadLetter[]> {
    const rows = this.db.prepare('SELECT * FROM queue_dead ORDER BY id LIMIT ?').all(limit) as Array<{
      id: number; queue: string; job_id: string; partition: string; payload: string; attempts: number; error: string; dead_at: string;
    }>;
    return rows.map((r) => ({
      id: String(r.id),
      queue: r.queue,
      jobId: r.job_id,
      partition: r.partition,
      attempts: r.attempts,
      error: r.error,
      deadAt: r.dead_at,
      // One damaged row must not hide the others: it is listed with its text as stored.
      payload: parsedOr(r.payload, r.payload),
    }));
  }

  async retryDead(id: string): Promise<boolean> {
    if (!/^\d+$/.test(id)) return false;
    const row = this.db.prepare('SELECT * FROM queue_dead WHERE id = ?').get(Number(id)) as
      | { id: number; queue: string; job_id: string; partition: string; payload: string }
      | undefined;
    if (!row) return false;
    write(this.db, () => {
      this.db.prepare('DELETE FROM queue_dead WHERE id = ?').run(row.id);
      this.db.prepare('DELETE FROM queue_seen WHERE queue = ? AND job_id = ?').run(row.queue, row.job_id);
      this.stmts.insert.run({ queue: row.queue, id: row.job_id, partition: row.partition, payload: row.payload, now: Date.now() });
    });
    this.nudger.notify([row.queue]);
    return true;
  }

  async discard(queue: string): Promise<void> {
    await this.group.run(() => {
      this.db.prepare('DELETE FROM queue_jobs WHERE queue = ?').run(queue);
      this.db.prepare('DELETE FROM queue_seen WHERE queue = ?').run(queue);
    });
  }

  async ping(): Promise<void> {
    this.db.prepare('SELECT COUNT(*) FROM queue_jobs').get();
  }

  async close(): Promise<void> {
    await Promise.all([...this.consumers].map((c) => c.close(0)));
    this.consumers.clear();
    await this.nudger.close();
    this.connection.release();
  }
}
