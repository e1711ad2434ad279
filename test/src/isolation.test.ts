import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { startSlackFake } from '../fakes/slack/server.js';
import { startFakeTelegram } from '../fakes/telegram/server.js';
import { fixture, freshTs, TOKENS } from '../connectors/slack/helpers.js';
import { dm } from '../connectors/telegram/fixtures.js';
import { exited, gatewayDir, hasExited, runCli, spawnCli } from '../helpers/cli.js';
import { cleanups, until } from '../helpers/wait.js';

const cleanup = cleanups();


describe('process isolation (built CLI)', () => {
  it('a SIGKILLed connector is restarted and audited while the other connector and the worker keep serving, losing nothing', async () => {
    const telegram = await startFakeTelegram();
    cleanup.push(() => telegram.close());
    const slack = await startSlackFake({ botToken: TOKENS.bot, appToken: TOKENS.app, pingIntervalMs: 1_000 });
    cleanup.push(() => slack.close());
    const tmp = await gatewayDir('mc-iso-', [
      'access: { dm: open }',
      'connectors:',
      `  telegram: { enabled: true, token: secret:TELEGRAM_TOKEN, apiRoot: "${telegram.url}" }`,
      `  slack: { enabled: true, mode: socket, apiRoot: "${slack.url}", botToken: secret:SLACK_BOT_TOKEN, appToken: secret:SLACK_APP_TOKEN }`,
    ]);
    cleanup.push(() => tmp.remove());
    for (const [name, value] of [['TELEGRAM_TOKEN', telegram.token], ['SLACK_BOT_TOKEN', TOKENS.bot], ['SLACK_APP_TOKEN', TOKENS.app]] as const) {
      expect((await runCli(['secrets', 'set', name], { cwd: tmp.dir, input: value })).code).toBe(0);
    }
    const gateway = spawnCli(['start'], { cwd: tmp.dir });
    cleanup.push(async () => {
      if (!hasExited(gateway)) {
        gateway.kill('SIGKILL');
        await exited(gateway);
      }
    });
    const db = new Database(join(tmp.dir, 'data', 'monkeyclaw.db'), { readonly: true });
    cleanup.push(() => void db.close());
    const pidOf = (role: string) => db.prepare(`SELECT pid FROM heartbeats WHERE role = ?`).pluck().get(role) as number | undefined;

    const first = dm('before the crash');
    telegram.push(first);
    await until(() => telegram.sentTo(first.message.chat.id)[0]).catch((e: Error) => {
      throw new Error(`${e.message}\n${gateway.output()}`);
    });
    await until(() => slack.open >= 1);
    const telegramPid = await until(() => pidOf('connector:telegram'));

    process.kill(telegramPid, 'SIGKILL');
    // While telegram is down: slack keeps being answered by the worker, and a telegram DM waits at the platform.
    const during = dm('sent while the connector was dead');
    telegram.push(during);
    const ts = freshTs();
    slack.push(fixture('message.im', { text: 'slack is unaffected', ts, event_ts: ts }));
    expect((await until(() => slack.posts.find((p) => p.text === 'slack is unaffected'))).channel).toBeDefined();

    const answered = await until(() => telegram.sentTo(during.message.chat.id).length > 0 && telegram.sentTo(during.message.chat.id));
    expect(answered.map((m) => m.visible)).toEqual(['sent while the connector was dead']);
    await sleep(500);
    expect(telegram.sentTo(during.message.chat.id)).toHaveLength(1);

    const kinds = db.prepare(`SELECT kind FROM audit_log WHERE subject = 'connector:telegram' ORDER BY seq`).pluck().all() as string[];
    expect(kinds).toEqual(['process.started', 'process.crashed', 'process.restarted', 'process.started']);
    const slackKinds = db.prepare(`SELECT kind FROM audit_log WHERE subject = 'connector:slack'`).pluck().all() as string[];
    expect(slackKinds).toEqual(['process.started']);
    gateway.kill('SIGTERM');
    expect(await exited(gateway)).toBe(0);
    expect(gateway.output()).not.toContain(telegram.token);
  }, 120_000);
});
