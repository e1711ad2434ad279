import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { goneHere, HOST, PROCESS_ID } from '../../core/process-identity.js';

describe('process identity', () => {
  it('judges gone only a process of this host, boot and PID namespace whose pid runs nothing, or runs a later process', async () => {
    expect(PROCESS_ID.startsWith(`${HOST}/${process.pid}/`)).toBe(true);
    expect(goneHere(PROCESS_ID)).toBe(false);
    expect(goneHere(`${PROCESS_ID}/lease-suffix`)).toBe(false);
    const [, , start] = PROCESS_ID.split('/');
    // This very pid, started at another time: the process that had it before.
    expect(goneHere(`${HOST}/${process.pid}/${Number(start) - 1}`)).toBe(true);
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)']);
    const owner = `${HOST}/${child.pid}/?`;
    expect(goneHere(owner)).toBe(false);
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    expect(goneHere(owner)).toBe(true);
    // Another host (or another container's PID namespace) is never judged, nor is an owner that cannot be read.
    expect(goneHere(`elsewhere/${child.pid}/?`)).toBe(false);
    expect(goneHere(`${HOST}/not-a-pid/1`)).toBe(false);
    expect(goneHere('')).toBe(false);
  });
});
