import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { acquireLock, LockedError, lockHolder, supervisorLock } from '../../src/lock.js';
import { tempDir } from '../helpers/tmp.js';

const LOCK_MODULE = fileURLToPath(new URL('../../dist/src/lock.js', import.meta.url));

describe('the gateway lock', () => {
  const tmp = tempDir('mc-lock-');
  afterAll(() => tmp.remove());

  it('is held while its process lives, refused to a second taker, and free again on release', () => {
    const lock = supervisorLock(join(tmp.dir, 'a'));
    expect(lockHolder(lock)).toBeUndefined();
    const release = acquireLock(lock);
    expect(lockHolder(lock)).toBe(process.pid);
    expect(() => acquireLock(lock)).toThrow(LockedError);
    expect(() => acquireLock(lock)).toThrow(`pid ${process.pid}`);
    release();
    expect(lockHolder(lock)).toBeUndefined();
    acquireLock(lock)();
  });

  it('is free once its holder is killed, whatever pid the holder file names (a reused pid, or this very process)', async () => {
    const lock = supervisorLock(join(tmp.dir, 'b'));
    const holder = spawn(process.execPath, ['--input-type=module', '-e', `import { acquireLock } from ${JSON.stringify(LOCK_MODULE)}; acquireLock(${JSON.stringify(lock)}); console.log('held'); setInterval(() => {}, 1000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await once(holder.stdout!, 'data');
    expect(lockHolder(lock)).toBe(holder.pid);
    expect(() => acquireLock(lock)).toThrow(`pid ${holder.pid}`);
    holder.kill('SIGKILL');
    await once(holder, 'exit');
    // Its pid file is left behind, naming a process that may be anyone now: the kernel's lock is what counts.
    expect(existsSync(`${lock}.pid`)).toBe(true);
    writeFileSync(`${lock}.pid`, String(process.pid));
    expect(lockHolder(lock)).toBeUndefined();
    acquireLock(lock)();
  });
});
