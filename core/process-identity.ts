import { readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';

/** A process's start time after boot (/proc/<pid>/stat field 22): a pid reused later has another one. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/**
 * The PID namespace, and the boot: containers on one host can share a host name, never a namespace; two machines
 * (cloned VMs) can share a host name and a namespace number, never a boot id, and neither can two boots of one.
 */
function machineAndNamespace(): string {
  const read = (what: () => string) => {
    try {
      return what();
    } catch {
      return '';
    }
  };
  const ns = read(() => readlinkSync('/proc/self/ns/pid').replace(/\D/g, ''));
  const boot = read(() => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim());
  return `${ns ? `~${ns}` : ''}${boot ? `~${boot}` : ''}`;
}

/** Where a pid names one process: this host name, boot and PID namespace. */
export const HOST = `${hostname()}${machineAndNamespace()}`;

/** When this process started (clock ticks after boot), or `?` where /proc does not say. */
export const PROCESS_START = startTime(process.pid) ?? '?';

/** This process, unmistakably: `host/pid/start time`. Lease and lock owners begin with it. */
export const PROCESS_ID = `${HOST}/${process.pid}/${PROCESS_START}`;

function exists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Whether `owner` (a PROCESS_ID, perhaps with more after a `/`) is a process of this host that is gone: its pid
 * runs nothing, or runs a process started at another time. Anything else, another host above all, is not judged.
 */
export function goneHere(owner: string): boolean {
  const [host, pidText, start] = owner.split('/');
  const pid = Number(pidText);
  if (host !== HOST || !Number.isInteger(pid) || pid <= 0) return false;
  if (!exists(pid)) return true;
  const now = startTime(pid);
  return start !== undefined && start !== '?' && now !== undefined && now !== start;
}
