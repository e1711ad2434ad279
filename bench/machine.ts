import { readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * The machine the figures came from, and how busy it was with other work: on a shared 2-core box a concurrent
 * `tsc` halves every figure, so each phase waits (bounded) for the CPUs to be quiet and records what it saw.
 */
export function machine() {
  return {
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    memory_gib: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    loadavg_at_start: loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

/** Busy and total jiffies over all CPUs, from /proc/stat (Linux); undefined elsewhere. */
function cpuTimes(): { busy: number; total: number } | undefined {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const total = fields.reduce((a, b) => a + b, 0);
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

/** Machine-wide CPU busy share (0..1) over `ms`; undefined where /proc/stat is missing. */
export async function busyShare(ms = 500): Promise<number | undefined> {
  const a = cpuTimes();
  await sleep(ms);
  const b = cpuTimes();
  return a && b && b.total > a.total ? (b.busy - a.busy) / (b.total - a.total) : undefined;
}

/** Waits until other processes leave the CPUs mostly idle (< `threshold`), at most `maxMs`; returns the last share seen. */
export async function awaitQuiet(threshold = 0.2, maxMs = 15_000): Promise<{ busy: number | null; waitedMs: number }> {
  const start = Date.now();
  let share = await busyShare();
  while (share !== undefined && share > threshold && Date.now() - start < maxMs) share = await busyShare();
  return { busy: share === undefined ? null : Math.round(share * 100) / 100, waitedMs: Date.now() - start };
}

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat; undefined if unreadable. */
export function processCpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    // The command name (field 2) may contain spaces: count fields from the closing parenthesis.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of the whole line, in clock ticks (USER_HZ, 100 on Linux).
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}
