import { statfsSync } from 'node:fs';
import type { Verdict } from './doctor.js';

const MIB = 1024 * 1024;
/** Below this a burst of messages (each a few rows, the WAL, a checkpoint's copy) can fill the disk mid-commit. */
const FAIL_BELOW = 16 * MIB;
const WARN_BELOW = 256 * MIB;

/**
 * Room left on the disk holding the data dir. Full, every write fails: connectors confirm nothing to their
 * platforms (the updates wait there), and no reply is recorded, while every check that only reads said `ok`.
 */
export function diskSpaceVerdict(dir: string, statfs: (path: string) => { bavail: number; bsize: number } = statfsSync): Verdict {
  const { bavail, bsize } = statfs(dir);
  const free = bavail * bsize;
  const said = `${(free / MIB).toFixed(free < 10 * MIB ? 1 : 0)} MiB free on the disk holding ${dir}`;
  if (free < FAIL_BELOW) return { ok: false, what: 'disk space', detail: `${said}: messages cannot be stored; free some space` };
  if (free < WARN_BELOW) return { ok: true, warn: true, what: 'disk space', detail: `only ${said}` };
  return { ok: true, what: 'disk space', detail: said };
}

/** Whether this process may write the database now: a write lock held too long, or a read-only file, fails it. */
export async function databaseWriteVerdict(file: string, tryWrite: (waitMs: number) => Promise<void>, waitMs = 2_000): Promise<Verdict> {
  try {
    await tryWrite(waitMs);
    return { ok: true, what: 'database writes', detail: 'the write lock can be taken' };
  } catch (error) {
    const message = (error as Error).message;
    const why = /locked|busy/i.test(message) ? `another process has held ${file}'s write lock for over ${waitMs / 1000} s` : `${file} cannot be written: ${message}`;
    return { ok: false, what: 'database writes', detail: why };
  }
}
