import { mkdirSync, openSync, readFileSync, rmSync, writeSync, closeSync } from 'node:fs';
import { dirname, join } from 'node:path';

export class LockedError extends Error {
  override readonly name = 'LockedError';
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The lock a running `start` holds on its data dir. */
export const supervisorLock = (dataDir: string): string => join(dataDir, 'run', 'supervisor.lock');

/** The live process holding the lock file, if any. */
export function lockHolder(file: string): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(file, 'utf8').trim());
  } catch {
    return undefined;
  }
  return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : undefined;
}

/**
 * A pid lock file created with O_EXCL: two supervisors on one data directory would run two pollers against one
 * bot token, so the second refuses to start. A lock left by a dead process is taken over.
 */
export function acquireLock(file: string): () => void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  for (let tries = 0; tries < 2; tries++) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(file, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const pid = lockHolder(file);
      if (pid !== undefined) throw new LockedError(`another monkeyclaw start (pid ${pid}) is running on this data directory`);
      rmSync(file, { force: true });
    }
  }
  throw new LockedError(`cannot take the lock ${file}`);
}
