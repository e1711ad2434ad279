import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { exited, gatewayDir, hasExited, spawnCli } from '../../helpers/cli.js';
import { startFakeTelegram } from '../../fakes/telegram/server.js';
import { dm } from './fixtures.js';
import { cleanups, until } from '../../helpers/wait.js';

const cleanup = cleanups();


describe('monkeyclaw start with telegram enabled (built CLI; run `npx tsc -p tsconfig.json` first)', () => {
  it('runs the connector as a supervised process that answers a DM, and stops cleanly on SIGTERM', async () => {
    const fake = await startFakeTelegram();
    cleanup.push(() => fake.close());
    const tmp = await gatewayDir('mc-tg-', [
      'access: { dm: open }',
      'connectors:',
      `  telegram: { enabled: true, token: env:TELEGRAM_TOKEN, mode: polling, apiRoot: "${fake.url}" }`,
    ]);
    cleanup.push(() => tmp.remove());
    // The supervisor resolves env: references itself and hands them to the connector over IPC (children get a scrubbed env).
    const gateway = spawnCli(['start'], { cwd: tmp.dir, env: { TELEGRAM_TOKEN: fake.token } });
    cleanup.push(async () => {
      if (!hasExited(gateway)) {
        gateway.kill('SIGKILL');
        await exited(gateway);
      }
    });

    const update = dm('hello from the other side');
    const updateId = fake.push(update);
    const reply = await until(() => fake.sentTo(update.message.chat.id)[0]);
    expect(reply.visible).toBe('hello from the other side');
    expect(fake.callsOf('getMe').length).toBeGreaterThan(0);

    const db = new Database(join(tmp.dir, 'data', 'monkeyclaw.db'), { readonly: true });
    cleanup.push(() => void db.close());
    const started = db.prepare(`SELECT subject FROM audit_log WHERE kind = 'process.started'`).pluck().all() as string[];
    expect(started).toContain('connector:telegram');
    const offset = () => db.prepare(`SELECT value FROM connector_state WHERE connector = 'telegram' AND key = 'offset'`).pluck().get();
    await until(() => offset() === String(updateId + 1));

    const stopAt = Date.now();
    gateway.kill('SIGTERM');
    expect(await exited(gateway)).toBe(0);
    expect(Date.now() - stopAt).toBeLessThan(10_000);
    expect(gateway.output()).not.toContain(fake.token);
    expect(fake.longPolling).toBe(false);
    expect(fake.droppedPending).toBe(false);
  }, 45_000);
});
