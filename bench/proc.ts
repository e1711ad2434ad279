import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/** A child process of the bench, spoken to through lines on its stdout/stderr (see drive.ts: READY, RESULT). */
export interface BenchChild {
  readonly pid: number | undefined;
  /** Resolves when a line matches `readyOn`; rejects if the child exits first. */
  ready: Promise<void>;
  /** The parsed RESULT line; rejects if the child exits without one. */
  result: Promise<unknown>;
  /** Waits `waitMs` for the child to exit by itself, then SIGTERM, then SIGKILL after `graceMs`; resolves once it is gone. */
  stop(waitMs?: number, graceMs?: number): Promise<void>;
}

const live = new Set<ChildProcess>();
// Whatever happens to the bench, none of its children may outlive it (each killed by its own pid).
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export function startChild(args: string[], options: { env: NodeJS.ProcessEnv; cwd?: string; readyOn?: RegExp; label: string }): BenchChild {
  const child = spawn(process.execPath, args, { env: options.env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  const tail: string[] = [];
  const readyOn = options.readyOn ?? /^READY$/;
  let onReady!: () => void;
  let onResult!: (v: unknown) => void;
  let fail!: (e: Error) => void;
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  const result = new Promise<unknown>((resolve) => (onResult = resolve));
  const failed = new Promise<never>((_, reject) => (fail = reject));
  // Only an early exit makes these reject: a child stopped after reporting is not a failure.
  failed.catch(() => undefined);

  const onLine = (line: string) => {
    if (readyOn.test(line)) onReady();
    if (line.startsWith('RESULT ')) onResult(JSON.parse(line.slice(7)));
    else {
      tail.push(line);
      if (tail.length > 30) tail.shift();
    }
  };
  createInterface({ input: child.stdout! }).on('line', onLine);
  createInterface({ input: child.stderr! }).on('line', onLine);
  // 'close', not 'exit': it comes after the last stdout line was read, so a RESULT is never lost to a race.
  const gone = new Promise<void>((resolve) =>
    child.once('close', (code, signal) => {
      live.delete(child);
      fail(new Error(`${options.label} exited (${code ?? signal}):\n  ${tail.join('\n  ')}`));
      resolve();
    }),
  );
  child.once('error', (e) => fail(e));

  // Marked handled: a caller that never awaits `ready` (or stops a child after its result) must not crash the bench.
  const handled = <T>(p: Promise<T>): Promise<T> => {
    p.catch(() => undefined);
    return p;
  };
  return {
    pid: child.pid,
    ready: handled(Promise.race([ready, failed])),
    result: handled(Promise.race([result, failed])),
    async stop(waitMs = 0, graceMs = 10_000) {
      // A load process exits by itself after its RESULT; killing it early would lose its --cpu-prof output.
      if (waitMs > 0) await Promise.race([gone, new Promise((resolve) => setTimeout(resolve, waitMs).unref())]);
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await gone;
      clearTimeout(timer);
    },
  };
}

/** Rejects after `ms` with `what` named, so no phase can hang the bench. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000} s`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
