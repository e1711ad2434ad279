import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';

export class LockedError extends Error {
  override readonly name = 'LockedError';
}

/**
 * The lock a running `start` holds on its data dir: an exclusive SQLite lock on this file, which the kernel keeps
 * for exactly as long as the holding process lives, however it dies. A pid file alone was taken for held when its
 * pid was reused (a container restarted as pid 1 again after an unclean stop) and could not tell a live gateway in
 * another pid namespace (a second container on the same volume) from a dead one. The file is never deleted: a
 * process that opened it just before would lock a file nobody else sees.
 */
export const supervisorLock = (dataDir: string): string => join(dataDir, 'run', 'gateway.lock');
/** Who holds the lock, for messages and doctor; only the lock itself says whether anyone does. */
const holderFile = (lock: string): string => `${lock}.pid`;

const busy = (error: unknown): boolean => ['SQLITE_BUSY', 'SQLITE_LOCKED'].includes((error as { code?: string }).code ?? '');

function holderPid(lock: string): number {
  try {
    return Number(readFileSync(holderFile(lock), 'utf8').trim()) || 0;
  } catch {
    return 0;
  }
}

/** The pid of the live process holding the lock (0 when it has not written it yet), or undefined when none does. */
export function lockHolder(lock: string): number | undefined {
  let db: Database.Database | undefined;
  try {
    db = new Database(lock, { readonly: true, fileMustExist: true, timeout: 0 });
    // A read needs a shared lock, which the holder's exclusive lock refuses.
    db.prepare('SELECT count(*) FROM sqlite_master').get();
    return undefined;
  } catch (error) {
    return busy(error) ? holderPid(lock) : undefined;
  } finally {
    db?.close();
  }
}

/**
 * Takes the lock, or throws LockedError naming the process that holds it: two supervisors on one data directory
 * would run two pollers against one bot token. The returned function releases it.
 */
export function acquireLock(lock: string): () => void {
  mkdirSync(dirname(lock), { recursive: true, mode: 0o700 });
  const db = new Database(lock, { timeout: 0 });
  try {
    // In exclusive locking mode the first write's lock is kept until the connection closes.
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('CREATE TABLE IF NOT EXISTS held (at TEXT NOT NULL); DELETE FROM held;');
    db.prepare('INSERT INTO held (at) VALUES (?)').run(new Date().toISOString());
  } catch (error) {
    db.close();
    if (busy(error)) throw new LockedError(`another monkeyclaw process (pid ${holderPid(lock)}) holds this data directory (its lock: ${lock})`);
    throw error;
  }
  writeFileSync(holderFile(lock), String(process.pid), { mode: 0o600 });
  return () => {
    rmSync(holderFile(lock), { force: true });
    db.close();
  };
}
