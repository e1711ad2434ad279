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

/**
 * When the kernel started process `pid` (field 22 of /proc/<pid>/stat, in clock ticks since boot): with the pid, it
 * names one process for good, where a pid alone is reused. Undefined where /proc is missing (not Linux).
 */
export function startedAt(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count fields after its closing one.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** The lock a running `start` holds on its data dir. */
export const supervisorLock = (dataDir: string): string => join(dataDir, 'run', 'supervisor.lock');

/**
 * The live process holding the lock file, if any. A pid that now belongs to a process started at another time than
 * the one recorded was left by a process that died: after a reboot the old pid may be any daemon's.
 */
export function lockHolder(file: string): number | undefined {
  let pid: number;
  let started: string | undefined;
  try {
    [pid, started] = ((s) => [Number(s[0]), s[1]] as const)(readFileSync(file, 'utf8').trim().split(' '));
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) return undefined;
  const now = started === undefined ? undefined : startedAt(pid);
  return now !== undefined && now !== started ? undefined : pid;
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
      writeSync(fd, [process.pid, startedAt(process.pid)].filter((v) => v !== undefined).join(' '));
      closeSync(fd);
      return () => rmSync(file, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const pid = lockHolder(file);
      // This very process cannot be holding it: a container restarted after an unclean stop is pid 1 again.
      if (pid !== undefined && pid !== process.pid) throw new LockedError(`another monkeyclaw start (pid ${pid}) is running on this data directory (its lock: ${file})`);
      rmSync(file, { force: true });
    }
  }
  throw new LockedError(`cannot take the lock ${file}`);
}
