import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { describe, it } from 'vitest';
import { exited, gatewayDir, hasExited } from '../helpers/cli.js';
import { cleanups, until } from '../helpers/wait.js';

const cleanup = cleanups();
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('npm start', () => {
  it('stops the gateway when npm itself gets SIGTERM (no gateway left behind a shell)', async () => {
    const tmp = await gatewayDir('mc-npm-start-', []);
    cleanup.push(() => tmp.remove());
    const npm = spawn('npm', ['start', '--', '--config', join(tmp.dir, 'monkeyclaw.config.yaml'), '--data-dir', join(tmp.dir, 'data')], {
      cwd: ROOT,
      stdio: 'ignore',
    });
    cleanup.push(async () => {
      if (!hasExited(npm)) npm.kill('SIGKILL');
      // A gateway left behind (the failure this test is about) goes too: it is the one using this data dir.
      spawnSync('pkill', ['-KILL', '-f', tmp.dir]);
    });
    const health = () => fetch(`http://127.0.0.1:${tmp.port}/health`).then((r) => r.status, () => 0);
    await until(async () => (await health()) === 200, 60_000);
    npm.kill('SIGTERM');
    await exited(npm);
    // The gateway itself (not only npm) is gone: nothing answers on its port any more.
    await until(async () => (await health()) === 0, 10_000);
  }, 90_000);
});
