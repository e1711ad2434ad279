import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/**
 * An agent runs as the gateway's own user, so without a sandbox it can read whatever the gateway can: the vault's
 * database, `master.key`, other sessions' directories. Under bubblewrap it sees the machine as before (the same
 * programs, network and writable places) except the data directory, which is an empty tmpfs but for its own
 * session directory, and the other processes, which a pid namespace with its own /proc hides.
 */
export type SandboxMode = 'auto' | 'bwrap' | 'none';

export interface Launch {
  command: string;
  args: string[];
}

/** What a backend's sandbox setting gives on this machine: a wrapper, or why there is none. */
export type SandboxState = { kind: 'bwrap'; wrap(launch: Launch, dirs: { dataDir: string; workdir: string }): Launch } | { kind: 'none'; why: string };

export const NO_BWRAP = 'bubblewrap (bwrap) is not installed or cannot create namespaces here';

let probed: { path: string } | { why: string } | undefined;

/** Finds `bwrap` on PATH and proves once per process that it can build the sandbox we ask of it. */
function bwrap(): { path: string } | { why: string } {
  if (probed) return probed;
  const path = (process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin')
    .split(delimiter)
    .map((dir) => join(dir, 'bwrap'))
    .find((file) => {
      try {
        accessSync(file, constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
  if (!path) return (probed = { why: NO_BWRAP });
  // The same namespaces and mounts a real call uses: a container that forbids them fails here, not mid-turn.
  const trial = spawnSync(path, [...common(), '--', process.execPath, '-e', ''], { stdio: 'ignore', timeout: 10_000 });
  return (probed = trial.status === 0 ? { path } : { why: `${NO_BWRAP} (${path} failed: ${trial.error?.message ?? `exit ${trial.status}`})` });
}

const common = () => ['--die-with-parent', '--unshare-pid', '--bind', '/', '/', '--dev', '/dev', '--proc', '/proc'];

export function sandboxFor(mode: SandboxMode): SandboxState {
  if (mode === 'none') return { kind: 'none', why: 'sandbox: none' };
  const found = bwrap();
  if ('why' in found) return { kind: 'none', why: found.why };
  return {
    kind: 'bwrap',
    wrap: (launch, { dataDir, workdir }) => ({
      command: found.path,
      // Later mounts win: the data dir is hidden, then the session's own directory is put back, writable.
      args: [...common(), '--tmpfs', dataDir, '--bind', workdir, workdir, '--chdir', workdir, '--', launch.command, ...launch.args],
    }),
  };
}

/** Forgets the probe (tests that change PATH). */
export function resetSandboxProbe(): void {
  probed = undefined;
}
