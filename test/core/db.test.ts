import { chmodSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { RESTART_FRAMES } from '../../core/checkpointer.js';
import { GroupCommit, migrate, openDb, openSharedDb, readMigrations, type Db } from '../../core/db.js';
import { EmbeddedDriver } from '../../queues/embedded.js';
import { SqliteStore } from '../../core/sqlite/store.js';
import { until } from '../helpers/wait.js';
import { tempDir } from '../helpers/tmp.js';

let cleanup: Array<() => void> = [];
afterEach(() => {
  for (const f of cleanup.reverse()) f();
  cleanup = [];
});

function fresh(): { file: string; db: Db } {
  const tmp = tempDir('mc-db-');
  const file = join(tmp.dir, 'monkeyclaw.db');
  const db = openDb(file);
  cleanup.push(() => tmp.remove(), () => db.close());
  return { file, db };
}

describe('openDb', () => {
  it('keeps the database and its WAL readable by the owner alone, in a data dir others can list, and tightens older files', () => {
    const tmp = tempDir('mc-db-mode-');
    cleanup.push(() => tmp.remove());
    chmodSync(tmp.dir, 0o755);
    const file = join(tmp.dir, 'monkeyclaw.db');
    const db = openDb(file);
    db.exec('CREATE TABLE t (x); INSERT INTO t VALUES (1)');
    const mode = (f: string) => statSync(f).mode & 0o777;
    expect([mode(file), mode(`${file}-wal`), mode(`${file}-shm`)]).toEqual([0o600, 0o600, 0o600]);
    db.close();
    // A file from before, readable by all: the next open takes that away.
    chmodSync(file, 0o644);
    openDb(file).close();
    expect(mode(file)).toBe(0o600);
  });

  it('leaves checkpoints to a background thread: commits never copy the WAL, yet the database file catches up', async () => {
    const { file, db } = fresh();
    expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    db.exec('CREATE TABLE blobs (b BLOB)');
    const insert = db.prepare('INSERT INTO blobs (b) VALUES (?)');
    const size = () => statSync(file).size;
    const before = size();
    // About 8 MB, far past the 1,000 pages after which SQLite would checkpoint inside a commit.
    for (let i = 0; i < 2_000; i++) insert.run(Buffer.alloc(4_096, i % 251));
    expect(statSync(`${file}-wal`).size).toBeGreaterThan(8_000_000);
    await until(() => size() > before + 8_000_000, 5_000);
    // Everything committed is in the database file now: a checkpoint finds nothing left to copy.
    const [row] = db.pragma('wal_checkpoint(PASSIVE)') as Array<{ log: number; checkpointed: number }>;
    expect(row!.checkpointed).toBe(row!.log);
  });

  it('starts a long WAL over once it is copied back, so steady writes reuse the file instead of growing it', async () => {
    const { file, db } = fresh();
    db.exec('CREATE TABLE blobs (b BLOB)');
    const insert = db.prepare('INSERT INTO blobs (b) VALUES (?)');
    const burst = db.transaction(() => {
      for (let i = 0; i < 20; i++) insert.run(Buffer.alloc(4_096, i));
    });
    // A commit every millisecond: the log is never idle when a writer starts, so SQLite alone would never restart it.
    const pages = RESTART_FRAMES * 8;
    let largest = 0;
    for (let written = 0; written < pages; written += 20) {
      burst.immediate();
      largest = Math.max(largest, statSync(`${file}-wal`).size);
      await new Promise((r) => setTimeout(r, 1));
    }
    // Grown without end, the log would hold all of it; restarted, it never held more than a few rounds' worth.
    expect(largest).toBeLessThan((pages * 4_096) / 2);
  });
});

describe('GroupCommit', () => {
  it('commits the writes of one turn together; one that throws rolls back alone and fails only its caller', async () => {
    const { db } = fresh();
    db.exec('CREATE TABLE t (v TEXT)');
    const group = new GroupCommit(db);
    const insert = (v: string) => () => db.prepare('INSERT INTO t (v) VALUES (?)').run(v).changes;
    const results = await Promise.allSettled([
      group.run(insert('a')),
      group.run(() => {
        insert('doomed')();
        throw new Error('no');
      }),
      group.run(insert('b')),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(db.prepare('SELECT v FROM t ORDER BY rowid').pluck().all()).toEqual(['a', 'b']);
  });

  it('waits for another process holding the write lock without blocking the event loop, then commits', async () => {
    const { file, db } = fresh();
    db.exec('CREATE TABLE t (v TEXT)');
    const other = new Database(file);
    cleanup.push(() => other.close());
    other.exec('BEGIN IMMEDIATE');
    const group = new GroupCommit(db);
    let done = false;
    const write = group.run(() => db.prepare('INSERT INTO t (v) VALUES (?)').run('x')).then(() => (done = true));
    // The loop keeps turning while the lock is held: a timer fires, and the write has not happened.
    await new Promise((r) => setTimeout(r, 50));
    expect(done).toBe(false);
    other.exec('COMMIT');
    await write;
    expect(db.prepare('SELECT COUNT(*) FROM t').pluck().get()).toBe(1);
  });

  it('carries the store\'s occasional writes too: heartbeats, connector state, pairing and approvals wait without blocking', async () => {
    const tmp = tempDir('mc-db-store-');
    const file = join(tmp.dir, 'monkeyclaw.db');
    const store = new SqliteStore(file);
    await store.migrate();
    const other = new Database(file);
    cleanup.push(() => tmp.remove(), () => void store.close(), () => other.close());
    other.exec('BEGIN IMMEDIATE');
    const started = performance.now();
    const writes = Promise.all([
      store.heartbeat('connector:test'),
      store.setConnectorState('test', 'offset', 42),
      store.accessStore().setOverride('telegram:1', 'allow', 'cli', []),
      store.accessStore().requestPairing({ platform: 'telegram', account: 'bot', senderId: '2', name: 'n', now: Date.now() }, { ttlMs: 60_000, maxPending: 3 }),
      store.approvalStore().create({ id: 'a1', assistant: 'default', tool: 'x', summary: 's', requester: 'telegram:1', eventId: 'e', createdAt: 0, expiresAt: 1 }),
    ]);
    // Before, each blocked the event loop on SQLite's busy timeout (up to 10 s): sockets, pongs and webhooks stalled.
    await new Promise((r) => setTimeout(r, 50));
    expect(performance.now() - started).toBeLessThan(2_000);
    other.exec('COMMIT');
    await writes;
    expect(await store.getConnectorState('test', 'offset')).toBe(42);
    expect(await store.liveProcesses('connector:test', 60_000)).toBe(1);
    expect((await store.accessStore().overrides(['telegram:1'])).get('telegram:1')).toBe('allow');
  });
});

describe('openSharedDb', () => {
  it('gives every opener in the process one connection and one group commit, closed when the last one lets go', async () => {
    const tmp = tempDir('mc-db-');
    cleanup.push(() => tmp.remove());
    const file = join(tmp.dir, 'monkeyclaw.db');
    const a = openSharedDb(file);
    const b = openSharedDb(join(tmp.dir, '.', 'monkeyclaw.db'));
    expect(b.db).toBe(a.db);
    expect(b.group).toBe(a.group);
    a.release();
    a.release(); // a second release by the same holder must not close the connection under the other
    expect(b.db.open).toBe(true);
    await b.group.run(() => b.db.exec('CREATE TABLE t (v TEXT)'));
    b.release();
    expect(b.db.open).toBe(false);
    // The next opener gets a fresh connection.
    const c = openSharedDb(file);
    expect(c.db).not.toBe(a.db);
    expect(c.db.prepare(`SELECT COUNT(*) FROM sqlite_master WHERE name = 't'`).pluck().get()).toBe(1);
    c.release();
  });
});

describe('queue heads (migration 011)', () => {
  it('keeps each partition head through enqueue and completion, and backfills jobs queued before the migration', async () => {
    const { file, db } = fresh();
    const all = readMigrations();
    migrate(db, all.filter((m) => m.version < 11));
    const old = db.prepare(`INSERT INTO queue_jobs (queue, job_id, partition, payload, enqueued_at) VALUES ('q', ?, ?, 'null', 0)`);
    for (const [id, partition] of [['a1', 'a'], ['b1', 'b'], ['a2', 'a']]) old.run(id, partition);
    migrate(db, all);
    const driver = new EmbeddedDriver({ file });
    cleanup.push(() => void driver.close());
    await driver.enqueue('q', [{ id: 'c1', partition: 'c', payload: null }, { id: 'b2', partition: 'b', payload: null }]);
    // The oldest job of each partition, oldest first; never a second job of a partition while its head waits.
    const first = await driver.claim('q', 10);
    expect(first.map((j) => j.id)).toEqual(['a1', 'b1', 'c1']);
    await driver.complete(first[0] as never, {});
    await driver.complete(first[1] as never, {});
    expect((await driver.claim('q', 10)).map((j) => j.id)).toEqual(['a2', 'b2']);
    expect(db.prepare(`SELECT partition, seq FROM queue_heads ORDER BY seq`).all()).toHaveLength(3);
  });
});

describe('migrate', () => {
  it('refuses a database a newer build migrated, naming the migration, instead of running on tables it does not know', () => {
    const { db } = fresh();
    const all = readMigrations();
    migrate(db, all);
    db.prepare(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, '999_future', 'then')`).run();
    expect(() => migrate(db, all)).toThrow(/newer MonkeyClaw \(migration 999_future, unknown to this one\)/);
  });
});

describe('dead letter ids (migration 016)', () => {
  it('never hands out an id again, not even one retried before the upgrade', () => {
    const { db } = fresh();
    const all = readMigrations();
    migrate(db, all.filter((m) => m.version < 16));
    const dead = db.prepare(`INSERT INTO queue_dead (queue, job_id, partition, payload, attempts, error, dead_at) VALUES ('q', ?, 'p', 'null', 1, 'x', 'then')`);
    for (const id of ['j1', 'j2', 'j3']) dead.run(id);
    // Ids 2 and 3 were retried (`dlq retry` deletes the row and audits it); a BullMQ id is not a number.
    db.prepare('DELETE FROM queue_dead WHERE id > 1').run();
    const retried = db.prepare(`INSERT INTO audit_log (at, kind, actor, subject, data, prev_hash, hash) VALUES ('then', 'dlq.retried', 'cli', ?, '{}', '', '')`);
    for (const subject of ['3', '2', '9e4f1a']) retried.run(subject);
    migrate(db, all);
    expect(Number(dead.run('j4').lastInsertRowid)).toBe(4);
    // A database with no dead letter left at all starts after the highest retried one too.
    const empty = fresh().db;
    migrate(empty, all.filter((m) => m.version < 16));
    empty.prepare(`INSERT INTO audit_log (at, kind, actor, subject, data, prev_hash, hash) VALUES ('then', 'dlq.retried', 'cli', '7', '{}', '', '')`).run();
    migrate(empty, all);
    expect(Number(empty.prepare(`INSERT INTO queue_dead (queue, job_id, partition, payload, attempts, error, dead_at) VALUES ('q', 'j', 'p', 'null', 1, 'x', 'now')`).run().lastInsertRowid)).toBe(8);
  });
});

describe('conversation partitions (migration 017)', () => {
  it('moves jobs an earlier build queued under platform:account:conversation to the partition new jobs take', async () => {
    const { file, db } = fresh();
    const all = readMigrations();
    migrate(db, all.filter((m) => m.version < 17));
    const job = db.prepare(`INSERT INTO queue_jobs (queue, job_id, partition, payload, enqueued_at) VALUES (?, ?, ?, ?, 0)`);
    const event = (conversation: string) => JSON.stringify({ platform: 'telegram', account: 'bot', conversation: { id: conversation } });
    const reply = (conversation: string) => JSON.stringify({ address: { platform: 'telegram', account: 'bot', conversation: { id: conversation } } });
    job.run('inbound', 'e1', 'telegram:bot:42', event('42'));
    job.run('outbound:telegram', 'e0:reply', 'telegram:bot:42', reply('42'));
    job.run('outbound:telegram', 'e0:notify:0', 'telegram:bot:7', reply('7'));
    job.run('inbound', 'e2', 'api:api:k1:e2', JSON.stringify({ platform: 'api', account: 'api', conversation: { id: 'k1' } }));
    migrate(db, all);
    const partitions = db.prepare('SELECT job_id, partition FROM queue_jobs ORDER BY seq').all();
    expect(partitions).toEqual([
      { job_id: 'e1', partition: 'telegram:42' },
      { job_id: 'e0:reply', partition: 'telegram:42' },
      { job_id: 'e0:notify:0', partition: 'telegram:bot:7' },
      { job_id: 'e2', partition: 'api:k1:e2' },
    ]);
    // A job queued after the upgrade waits behind the old one of its conversation.
    const driver = new EmbeddedDriver({ file });
    cleanup.push(() => void driver.close());
    await driver.enqueue('inbound', [{ id: 'e3', partition: 'telegram:42', payload: null }]);
    expect((await driver.claim('inbound', 10)).map((j) => j.id)).toEqual(['e1', 'e2']);
  });
});

describe('turn replies on the dedupe row (migration 012)', () => {
  it('moves each handled turn\'s replies, in order, so a redelivery after the upgrade re-offers the same replies', async () => {
    const { file, db } = fresh();
    const all = readMigrations();
    migrate(db, all.filter((m) => m.version < 12));
    db.prepare(`INSERT INTO processed_events (dedupe_key, event_id, processed_at) VALUES (?, ?, 'then')`).run('tg:1', 'e1');
    db.prepare(`INSERT INTO processed_events (dedupe_key, event_id, processed_at) VALUES (?, ?, 'then')`).run('tg:2', 'e2');
    const reply = (key: string, text: string) => ({ v: 1, idempotencyKey: key, eventId: 'e1', text });
    const old = db.prepare('INSERT INTO turn_replies (idempotency_key, dedupe_key, queue, partition, reply) VALUES (?, ?, ?, ?, ?)');
    old.run('e1:notice', 'tg:1', 'outbound:telegram', 'p1', JSON.stringify(reply('e1:notice', 'first')));
    old.run('e1:reply', 'tg:1', 'outbound:telegram', 'p1', JSON.stringify(reply('e1:reply', 'second')));
    migrate(db, all);
    expect(db.prepare(`SELECT COUNT(*) FROM sqlite_master WHERE name = 'turn_replies'`).pluck().get()).toBe(0);
    const store = new SqliteStore(file);
    cleanup.push(() => void store.close());
    expect(await store.handledTurn('tg:1')).toEqual([
      { queue: 'outbound:telegram', partition: 'p1', reply: reply('e1:notice', 'first') },
      { queue: 'outbound:telegram', partition: 'p1', reply: reply('e1:reply', 'second') },
    ]);
    // A turn that replied nothing is still handled; an unknown one is not.
    expect(await store.handledTurn('tg:2')).toEqual([]);
    expect(await store.handledTurn('tg:3')).toBeNull();
  });

  it('drops the part progress of replies already sent, and keeps that of a reply still going out', () => {
    const { db } = fresh();
    const all = readMigrations();
    migrate(db, all.filter((m) => m.version < 13));
    const send = db.prepare(`INSERT INTO sent_messages (idempotency_key, platform, state, updated_at) VALUES (?, 'telegram', ?, 'then')`);
    send.run('e1:reply', 'sent');
    send.run('e2:reply', 'sending');
    const state = db.prepare(`INSERT INTO connector_state (connector, key, value, updated_at) VALUES ('telegram', ?, '["1"]', 'then')`);
    for (const key of ['sent:e1:reply', 'sent:e2:reply', 'offset']) state.run(key);
    migrate(db, all);
    expect(db.prepare('SELECT key FROM connector_state ORDER BY key').pluck().all()).toEqual(['offset', 'sent:e2:reply']);
  });
});

describe('gateway identity (migration 014)', () => {
  it('gives a new data dir a queue prefix of its own, and keeps the one every gateway used for a data dir that has run', async () => {
    const prefixOf = async (file: string) => {
      const store = new SqliteStore(file);
      try {
        await store.migrate();
        return await store.queuePrefix();
      } finally {
        await store.close();
      }
    };
    const [a, b] = [fresh(), fresh()];
    a.db.close();
    b.db.close();
    const [first, second] = [await prefixOf(a.file), await prefixOf(b.file)];
    expect(first).toMatch(/^mc-[0-9a-f]{12}$/);
    expect(second).not.toBe(first);
    // Stable across opens.
    expect(await prefixOf(a.file)).toBe(first);

    // A data dir from before the migration, which has run (audit entries): its jobs in Redis are under `monkeyclaw`.
    const old = fresh();
    migrate(old.db, readMigrations().filter((m) => m.version < 14));
    old.db.close();
    const store = new SqliteStore(old.file);
    await store.appendAudit([{ kind: 'process.started', actor: 'supervisor', data: {} }]);
    await store.close();
    expect(await prefixOf(old.file)).toBe('monkeyclaw');
  });
});
