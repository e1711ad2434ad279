import { hostname } from 'node:os';

/** This machine, as lease and lock owners name it: only a process here can be checked for being alive. */
export const HOST = hostname();

/** Whether `pid` names a running process (EPERM: running, as another user). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
