import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { acquireLock, LockedError, startedAt } from '../../src/lock.js';
import { tempDir } from '../helpers/tmp.js';

describe('the supervisor lock', () => {
  const tmp = tempDir('mc-lock-');
  const other = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  afterAll(async () => {
    other.kill('SIGKILL');
    await once(other, 'exit');
    tmp.remove();
  });
  const lockWith = (content: string) => {
    const file = join(tmp.dir, `${Math.random()}`, 'supervisor.lock');
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, content);
    return file;
  };

  it('refuses while the process that wrote it runs, and names the lock file', () => {
    const file = lockWith(`${other.pid} ${startedAt(other.pid!)}`);
    expect(() => acquireLock(file)).toThrow(LockedError);
    expect(() => acquireLock(file)).toThrow(file);
    // A lock from before the start time was recorded: a live pid still holds it.
    expect(() => acquireLock(lockWith(String(other.pid)))).toThrow(LockedError);
  });

  it('takes over a lock whose pid is now this process (a container restarted as pid 1) or a process started later', () => {
    const own = lockWith(`${process.pid} 1`);
    const release = acquireLock(own);
    release();
    expect(existsSync(own)).toBe(false);
    // The recorded start time is not the live process's: the pid was reused after the writer died.
    acquireLock(lockWith(`${other.pid} 1`))();
  });
});
