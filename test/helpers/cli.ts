import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach } from 'vitest';

import { freePort } from './ports.js';
import { tempDir } from './tmp.js';

export const CLI = fileURLToPath(new URL('../../dist/src/cli.js', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI as a user would, in `cwd`, with optional stdin. */
export function runCli(args: string[], options: { cwd: string; input?: string | Buffer; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`monkeyclaw ${args.join(' ')} timed out\n${stderr}`));
    }, options.timeoutMs ?? 30_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    // A command may refuse its input before reading all of it (too long): the rest meets a closed pipe.
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}

/** Starts a long-running command (start, worker) and returns the process. */
/** `detached`: the CLI leads a process group of its own, which a test can signal whole (a terminal's hang-up). */
export function spawnCli(args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; detached?: boolean }): ChildProcess & { output: () => string } {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'], detached: options.detached ?? false });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  return Object.assign(child, { output: () => output });
}

export const hasExited = (child: ChildProcess): boolean => child.exitCode !== null || child.signalCode !== null;

/** `spawnCli`, killed (SIGKILL) by the test's cleanup if it is still running then. */
export function spawnCliKilledAfter(
  cleanup: Array<() => Promise<void> | void>,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv },
): ReturnType<typeof spawnCli> {
  const child = spawnCli(args, options);
  cleanup.push(async () => {
    if (!hasExited(child)) {
      child.kill('SIGKILL');
      await exited(child);
    }
  });
  return child;
}

export const exited = (child: ChildProcess): Promise<number | null> =>
  hasExited(child) ? Promise.resolve(child.exitCode) : new Promise((resolve) => child.once('exit', (code) => resolve(code)));

/**
 * A working directory for a gateway under test: a temp dir holding `monkeyclaw.config.yaml`, which is a free
 * loopback port for the HTTP server followed by `lines`.
 */
export async function gatewayDir(prefix: string, lines: string[]): Promise<{ dir: string; port: number; remove(): void }> {
  const tmp = tempDir(prefix);
  const port = await freePort();
  writeFileSync(join(tmp.dir, 'monkeyclaw.config.yaml'), [`server: { port: ${port} }`, ...lines, ''].join('\n'));
  return { ...tmp, port };
}

/**
 * For a test file whose every test runs the CLI in a directory of its own: made before each test, removed after.
 * `dir` is the current test's; `cli` runs there, with `input` on stdin when given.
 */
export function cliInFreshDir(prefix: string): { readonly dir: string; cli(args: string[], input?: string): Promise<CliResult> } {
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => {
    tmp = tempDir(prefix);
  });
  afterEach(() => tmp.remove());
  return {
    get dir() {
      return tmp.dir;
    },
    cli: (args, input) => runCli(args, { cwd: tmp.dir, ...(input !== undefined ? { input } : {}) }),
  };
}
