import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

/**
 * An agent CLI is started through a keeper: a small Node process that leads the agent's process group and watches
 * its IPC channel to the worker. When the worker dies without killing the group (SIGKILL, a crash), the channel
 * closes and the keeper kills the whole group, itself included: nothing an agent started outlives the worker.
 * (A process group alone does not do that, and Linux's parent-death signal reaches only one process.)
 *
 * The agent inherits the keeper's stdin, stdout and stderr, so it talks to the worker as if started directly; its
 * exit code becomes the keeper's. A command that cannot be started is reported over IPC as `{ spawnError }`.
 */
const KEEPER = `
const { spawn } = require('node:child_process');
const [command, ...args] = process.argv.slice(1);
const killGroup = () => { try { process.kill(0, 'SIGKILL'); } catch {} process.exit(137); };
process.on('disconnect', killGroup);
const env = { ...process.env };
delete env.NODE_CHANNEL_FD; delete env.NODE_CHANNEL_SERIALIZATION_MODE; // the keeper's channel, not the agent's
const child = spawn(command, args, { stdio: 'inherit', env });
child.on('error', (e) => { try { process.send({ spawnError: String(e.code || e.message) }, () => process.exit(127)); } catch { process.exit(127); } });
child.on('exit', (code, signal) => process.exit(code ?? 128 + (require('node:os').constants.signals[signal] || 0)));
`;

/** Spawns `command` under a keeper, detached: the keeper's pid is the group's id, for killing everything at once. */
export function spawnKept(command: string, args: readonly string[], options: Omit<SpawnOptions, 'stdio' | 'detached'>): ChildProcess {
  return spawn(process.execPath, ['-e', KEEPER, '--', command, ...args], {
    ...options,
    stdio: ['pipe', 'pipe', 'pipe', 'ipc'],
    detached: true,
  });
}
