import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { BackendConfig } from '../config.js';
import { executable } from './executable.js';

/**
 * An agent runs as the gateway's own user, so without a sandbox it can read whatever the gateway can: the vault's
 * database, `master.key`, other sessions' directories. Under bubblewrap it sees the machine as before (the same
 * programs, network and writable places) except the data directory, which is an empty tmpfs but for its own
 * session directory, and the other processes, which a pid namespace with its own /proc hides.
 */
export type SandboxMode = Extract<BackendConfig, { type: 'cli' }>['sandbox'];

export interface Launch {
  command: string;
  args: string[];
}

/** Directories as they really are (symlinks resolved): bubblewrap mounts on real paths only. */
export interface SandboxDirs {
  /** Hidden whole: the data dir, and its `workspaces` where that is a link to elsewhere. */
  hide: string[];
  /** Put back, writable: the session's own directory. */
  workdir: string;
  /** Put back, read-only: what the agent must reach and never change (its tool hook). */
  readOnly: string[];
}

/** What a backend's sandbox setting gives on this machine: a wrapper, or why there is none. */
export type SandboxState = { kind: 'bwrap'; wrap(launch: Launch, dirs: SandboxDirs): Launch } | { kind: 'none'; why: string };

const NO_BWRAP = 'bubblewrap (bwrap) is not installed or cannot create namespaces here';

const COMMON = ['--die-with-parent', '--unshare-pid', '--bind', '/', '/', '--dev', '/dev', '--proc', '/proc'];

function args(launch: Launch, dirs: SandboxDirs): string[] {
  // Later mounts win: the data dir is hidden, then the session's own directory is put back.
  return [
    ...COMMON,
    ...dirs.hide.flatMap((d) => ['--tmpfs', d]),
    ...['--bind', dirs.workdir, dirs.workdir],
    ...dirs.readOnly.flatMap((d) => ['--ro-bind', d, d]),
    ...['--chdir', dirs.workdir, '--', launch.command, ...launch.args],
  ];
}

/** Per PATH, since that is where bwrap is looked for: the probe starts a process, once. */
const probes = new Map<string, { path: string } | { why: string }>();

/** Finds `bwrap` on PATH and proves it can build the very sandbox a call asks for (namespaces, tmpfs, binds). */
function bwrap(): { path: string } | { why: string } {
  const search = process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin';
  const known = probes.get(search);
  if (known) return known;
  const path = search.split(delimiter).map((dir) => join(dir, 'bwrap')).find(executable);
  let found: { path: string } | { why: string } = { why: NO_BWRAP };
  if (path) {
    // A container that forbids namespaces or mounts fails here, not mid-turn.
    const dir = mkdtempSync(join(tmpdir(), 'mc-sandbox-probe-'));
    try {
      mkdirSync(join(dir, 'session'));
      const trial = spawnSync(path, args({ command: process.execPath, args: ['-e', ''] }, { hide: [dir], workdir: join(dir, 'session'), readOnly: [] }), { stdio: 'ignore', timeout: 10_000 });
      found = trial.status === 0 ? { path } : { why: `${NO_BWRAP} (${path} failed: ${trial.error?.message ?? `exit ${trial.status}`})` };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  probes.set(search, found);
  return found;
}

export function sandboxFor(mode: SandboxMode): SandboxState {
  if (mode === 'none') return { kind: 'none', why: 'sandbox: none' };
  const found = bwrap();
  if ('why' in found) return { kind: 'none', why: found.why };
  return { kind: 'bwrap', wrap: (launch, dirs) => ({ command: found.path, args: args(launch, dirs) }) };
}
