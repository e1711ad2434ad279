import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { retainCheckpointer } from './checkpointer.js';

export type Db = Database.Database;

/**
 * Opens the data directory's SQLite file the way every process must: WAL so readers never block the writer,
 * foreign keys on, and a busy timeout so processes sharing the file wait their turn instead of failing.
 * synchronous=NORMAL survives any process crash; only an OS crash or power loss can lose the last commits.
 * Checkpoints run on a background thread (core/checkpointer.ts), not inside a commit; it stops with the last
 * connection this process has to the file.
 */
export function openDb(file: string): Db {
  // The data dir holds history and the audit log: only its owner may look inside.
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  ownerOnly(file);
  let db: Db | undefined;
  try {
    db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 10000');
    db.pragma('wal_autocheckpoint = 0');
  } catch (error) {
    db?.close();
    // SQLite says "file is not a database" without saying which: a command's error names it (its code is kept).
    throw Object.assign(new Error(`cannot open ${file}: ${(error as Error).message}`, { cause: error }), { code: (error as { code?: unknown }).code });
  }
  const release = retainCheckpointer(file);
  const close = db.close.bind(db);
  db.close = () => {
    release();
    return close();
  };
  return db;
}

/**
 * The file holds history, the audit log, key hashes and the sealed vault: only its owner may read it, even in a data
 * dir that others can list (one that existed before, with the mode it was given). SQLite gives its -wal and -shm
 * files the database file's mode; ones left from before are tightened too.
 */
function ownerOnly(file: string): void {
  if (!existsSync(file)) closeSync(openSync(file, 'a', 0o600));
  for (const f of [file, `${file}-wal`, `${file}-shm`]) {
    try {
      if (existsSync(f) && (statSync(f).mode & 0o077) !== 0) chmodSync(f, 0o600);
    } catch {
      // Another user's file (EPERM): reading it is still allowed, tightening it is theirs to do.
    }
  }
}

const WRITE_DEADLINE_MS = 10_000;
const SPIN_MS = 1;
const pause = new Int32Array(new SharedArrayBuffer(4));
const isBusy = (error: unknown): boolean => typeof (error as { code?: unknown }).code === 'string' && (error as { code: string }).code.startsWith('SQLITE_BUSY');
const BUSY = Symbol('busy');

/** One BEGIN IMMEDIATE attempt that does not wait: BUSY when another connection holds the write lock. */
function attempt<T>(db: Db, txn: Database.Transaction<() => T>): T | typeof BUSY {
  // Not a prepared statement: SQLite applies PRAGMA busy_timeout when it compiles it, not when it runs.
  db.pragma('busy_timeout = 0');
  try {
    return txn.immediate();
  } catch (error) {
    if (isBusy(error)) return BUSY;
    throw error;
  } finally {
    db.pragma('busy_timeout = 10000');
  }
}

/**
 * Runs `fn` as one write transaction (BEGIN IMMEDIATE: the write lock is taken first, so `fn` never meets a busy
 * database half-way). Another process holding the lock is waited for in sleeps of tens of microseconds: SQLite's
 * own busy handler sleeps a whole millisecond at the first conflict, then more, while a gateway transaction holds
 * the lock for about a tenth of that. Nested calls join the outer transaction.
 */
export function write<T>(db: Db, fn: () => T): T {
  // Inside a transaction already: its caller decides what rolls back if `fn` throws (see GroupCommit.commit).
  if (db.inTransaction) return fn();
  const txn = db.transaction(fn);
  const deadline = Date.now() + WRITE_DEADLINE_MS;
  for (let wait = 0.02; ; wait = Math.min(wait * 2, 2)) {
    const result = attempt(db, txn);
    if (result !== BUSY) return result;
    if (Date.now() > deadline) throw new Error(`the database stayed locked for ${WRITE_DEADLINE_MS / 1000} s`);
    Atomics.wait(pause, 0, 0, wait * (0.5 + Math.random()));
  }
}

type Settle = { ok: true; value: unknown } | { ok: false; error: unknown };
type Pending = { fn: () => unknown; resolve(value: unknown): void; reject(error: unknown): void };

/**
 * Group commit: writes asked for in the same turn of the event loop share one transaction; one that throws rolls
 * back alone and fails only its caller (see `commit`). The jobs a process runs side by side then
 * take the write lock once between them, not once each. While another process holds the lock the batch waits
 * without blocking: the event loop goes on with other jobs, whose writes join the batch.
 */
export class GroupCommit {
  private pending: Pending[] = [];
  private scheduled = false;
  private busySince?: number;

  constructor(private readonly db: Db) {}

  /** `fn` only writes to the database: when another write of its batch throws, it runs a second time. */
  run<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ fn, resolve: resolve as (value: unknown) => void, reject });
      this.schedule(0);
    });
  }

  private schedule(delayMs: number): void {
    if (this.scheduled) return;
    this.scheduled = true;
    const go = () => {
      this.scheduled = false;
      this.flush();
    };
    if (delayMs === 0) setImmediate(go);
    else setTimeout(go, delayMs);
  }

  private flush(): void {
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    let settled: Settle[] | typeof BUSY;
    try {
      settled = this.commit(batch);
    } catch (error) {
      settled = batch.map(() => ({ ok: false, error }));
    }
    if (settled === BUSY) {
      this.pending = batch.concat(this.pending);
      this.busySince ??= performance.now();
      const waited = performance.now() - this.busySince;
      if (waited > WRITE_DEADLINE_MS) {
        const error = new Error(`the database stayed locked for ${WRITE_DEADLINE_MS / 1000} s`);
        for (const item of this.pending.splice(0)) item.reject(error);
        this.busySince = undefined;
        return;
      }
      // Retried on the next turn of the loop for the first millisecond (another process holds the lock for a
      // fraction of one; a retry is a failed BEGIN, a few microseconds), then in 1 ms steps. Waiting 1 ms at once
      // left the lock idle most of that time: the bench's end-to-end embedded rate rose by about a quarter.
      this.schedule(waited < SPIN_MS ? 0 : 1);
      return;
    }
    this.busySince = undefined;
    settled.forEach((s, i) => (s.ok ? batch[i]!.resolve(s.value) : batch[i]!.reject(s.error)));
  }

  /**
   * Runs the batch as one transaction. Writes almost never throw, so the batch first runs without savepoints (a
   * savepoint costs as much as an insert). If one does throw, the whole transaction has rolled back, and the batch
   * runs again with a savepoint per write so that only the one that threw fails.
   */
  private commit(batch: Pending[]): Settle[] | typeof BUSY {
    const run = (txn: Database.Transaction<() => Settle[]>) => (this.db.inTransaction ? txn() : attempt(this.db, txn));
    try {
      return run(this.db.transaction(() => batch.map((item): Settle => ({ ok: true, value: item.fn() }))));
    } catch {
      return run(
        this.db.transaction(() =>
          batch.map((item): Settle => {
            try {
              return { ok: true, value: this.db.transaction(item.fn)() };
            } catch (error) {
              return { ok: false, error };
            }
          }),
        ),
      );
    }
  }
}

/** One process's connection to a file, shared by everything in the process that writes to it. */
export interface SharedDb {
  readonly db: Db;
  /** The one group commit of this connection: writes from the store, the limiter and the queue share its batches. */
  readonly group: GroupCommit;
  /** Closes the connection once every holder has released it. */
  release(): void;
}

const sharedDbs = new Map<string, { db: Db; group: GroupCommit; refs: number }>();

/**
 * The process's shared connection to `file`. Store, rate limiter and embedded queue each used to open their own:
 * three connections in one process then queued for the same write lock, and a worker's turn took three separate
 * commits. One connection with one group commit lets a loop turn's writes from all of them share one transaction.
 */
export function openSharedDb(file: string): SharedDb {
  const key = resolve(file);
  let entry = sharedDbs.get(key);
  if (!entry) {
    const db = openDb(key);
    entry = { db, group: new GroupCommit(db), refs: 0 };
    sharedDbs.set(key, entry);
  }
  entry.refs++;
  const held = entry;
  let released = false;
  return {
    db: held.db,
    group: held.group,
    release() {
      if (released) return;
      released = true;
      if (--held.refs > 0) return;
      sharedDbs.delete(key);
      held.db.close();
    },
  };
}

/** The package root, found from this file whether it runs from source (core/) or from dist/core/. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('package root not found');
    dir = parent;
  }
  return dir;
}

export const MIGRATIONS_DIR = join(packageRoot(), 'migrations');

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export function readMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((f) => ({ version: Number(f.slice(0, 3)), name: f.replace(/\.sql$/, ''), sql: readFileSync(join(dir, f), 'utf8') }));
}

/** Applies pending migrations in order, each in its own transaction, recording each; returns the names applied. */
export function migrate(db: Db, migrations = readMigrations()): string[] {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`);
  const applied = new Set(db.prepare('SELECT version FROM schema_migrations').pluck().all() as number[]);
  // A newer build's tables are not what this one reads and writes: running on them fails message by message (a
  // table it needs was dropped, a column renamed), after the platform was told each was received.
  const newest = Math.max(0, ...migrations.map((m) => m.version));
  const unknown = db.prepare('SELECT name FROM schema_migrations WHERE version > ? ORDER BY version').pluck().all(newest) as string[];
  if (unknown.length > 0) {
    throw new Error(`the database was brought up to date by a newer MonkeyClaw (migration ${unknown.join(', ')}, unknown to this one): run that version, or restore a backup from before it`);
  }
  const done: string[] = [];
  for (const m of migrations) {
    if (applied.has(m.version)) continue;
    // IMMEDIATE: two processes starting at once must not both apply the same migration.
    db.transaction(() => {
      const again = db.prepare('SELECT 1 FROM schema_migrations WHERE version = ?').get(m.version);
      if (again) return;
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
        m.version,
        m.name,
        new Date().toISOString(),
      );
      done.push(m.name);
    }).immediate();
  }
  return done;
}

/**
 * `INSERT … VALUES (…), (…) …` for any number of rows: one statement writes a batch, each shape prepared once
 * (on first use, so the table need only exist by then). `tail` follows the values (an ON CONFLICT clause).
 */
export function rowsInsert(db: Db, head: string, columns: number, tail = ''): (rows: number) => Database.Statement {
  const prepared = new Map<number, Database.Statement>();
  const row = `(${Array<string>(columns).fill('?').join(', ')})`;
  return (rows) => {
    let statement = prepared.get(rows);
    if (!statement) prepared.set(rows, (statement = db.prepare(`${head} VALUES ${Array<string>(rows).fill(row).join(', ')} ${tail}`)));
    return statement;
  };
}
