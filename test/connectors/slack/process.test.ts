import { describe, expect, it } from 'vitest';
import { exited, gatewayDir, hasExited, spawnCli } from '../../helpers/cli.js';
import { startSlackFake } from '../../fakes/slack/server.js';
import { fixture, freshTs, signedRequest, sleep, TOKENS } from './helpers.js';
import { cleanups, until } from '../../helpers/wait.js';

/** Needs the build: `npx tsc -p tsconfig.json` (npm test runs it first). */

const cleanup = cleanups();


/** The tokens live only in the environment of `start`; the config names them, the supervisor hands them over IPC. */
async function startGateway(mode: 'socket' | 'http', authDelayMs?: number) {
  const fake = await startSlackFake({ botToken: TOKENS.bot, appToken: TOKENS.app, pingIntervalMs: 1_000, ...(authDelayMs ? { authDelayMs } : {}) });
  cleanup.push(() => fake.close());
  const tmp = await gatewayDir('mc-slack-proc-', [
    'access: { dm: open, groups: open }',
    'connectors:',
    `  slack: { enabled: true, mode: ${mode}, apiRoot: "${fake.url}", botToken: env:SLACK_BOT_TOKEN, appToken: env:SLACK_APP_TOKEN, signingSecret: env:SLACK_SIGNING_SECRET }`,
  ]);
  cleanup.push(() => tmp.remove());
  const { port } = tmp;
  const gateway = spawnCli(['start'], {
    cwd: tmp.dir,
    env: { SLACK_BOT_TOKEN: TOKENS.bot, SLACK_APP_TOKEN: TOKENS.app, SLACK_SIGNING_SECRET: TOKENS.signing },
  });
  cleanup.push(async () => {
    if (!hasExited(gateway)) {
      gateway.kill('SIGKILL');
      await exited(gateway);
    }
  });
  return { fake, gateway, port };
}

describe('slack connector under monkeyclaw start', () => {
  it('Socket Mode: a DM is answered by the supervised connector process, which stops cleanly on SIGTERM', async () => {
    const { fake, gateway } = await startGateway('socket');
    await until(() => fake.open >= 1).catch((e: Error) => {
      throw new Error(`${e.message}\n${gateway.output()}`);
    });
    const ts = freshTs();
    fake.push(fixture('message.im', { text: 'through the whole gateway', ts, event_ts: ts }));
    const post = await until(() => fake.posts[0]);
    expect(post).toMatchObject({ channel: 'D024BE91L', text: 'through the whole gateway' });
    // The credential never reached the logs.
    expect(gateway.output()).not.toContain(TOKENS.bot);
    gateway.kill('SIGTERM');
    expect(await exited(gateway)).toBe(0);
    expect(fake.unacked()).toEqual([]);
  });

  it('HTTP mode: POST /webhooks/slack is verified by the connector process and answered; a bad signature gets 401', async () => {
    const { fake, gateway, port } = await startGateway('http');
    const post = (r: ReturnType<typeof signedRequest>) =>
      fetch(`http://127.0.0.1:${port}/webhooks/slack`, { method: 'POST', headers: r.headers, body: r.body }).catch(() => undefined);
    const ts = freshTs();
    const good = signedRequest(fixture('message.im', { text: 'signed and delivered', ts, event_ts: ts }));
    // Until the connector process is up the gateway answers 503; then the connector's own answer comes back.
    const answer = await until(async () => {
      const r = await post(good);
      return r && r.status !== 503 && r;
    }).catch((e: Error) => {
      throw new Error(`${e.message}\n${gateway.output()}`);
    });
    expect(answer.status).toBe(200);
    expect((await until(() => fake.posts[0])).text).toBe('signed and delivered');
    const forged = signedRequest(fixture('message.im', { text: 'forged', ts: freshTs() }), { secret: 'guess' });
    expect((await post(forged))?.status).toBe(401);
    // A burst of forged requests: each is answered by the connector process, and the gateway's output stays
    // structured (one IPC listener serves every request in flight; one each printed Node's leak warning).
    const burst = await Promise.all(Array.from({ length: 40 }, () => post(signedRequest(fixture('message.im', { text: 'forged', ts: freshTs() }), { secret: 'guess' }))));
    expect(burst.map((r) => r?.status)).toEqual(Array.from({ length: 40 }, () => 401));
    expect(gateway.output()).not.toMatch(/MaxListenersExceededWarning/);
    await sleep(500);
    expect(fake.posts).toHaveLength(1);
    gateway.kill('SIGTERM');
    expect(await exited(gateway)).toBe(0);
  });

  it('HTTP mode: while the connector process is still connecting to Slack, a webhook gets 503 at once, not after 10 s', async () => {
    const { gateway, port } = await startGateway('http', 8_000);
    const ts = freshTs();
    const good = signedRequest(fixture('message.im', { text: 'early', ts, event_ts: ts }));
    const answer = await until(async () => {
      const started = Date.now();
      const r = await fetch(`http://127.0.0.1:${port}/webhooks/slack`, { method: 'POST', headers: good.headers, body: good.body, signal: AbortSignal.timeout(3_000) }).catch(() => undefined);
      const text = await r?.text();
      return r && text === 'connector not ready' && { status: r.status, retryAfter: r.headers.get('retry-after'), ms: Date.now() - started };
    }, 7_000).catch((e: Error) => {
      throw new Error(`${e.message}\n${gateway.output()}`);
    });
    expect(answer).toMatchObject({ status: 503, retryAfter: '5' });
    expect(answer.ms).toBeLessThan(2_000);
    gateway.kill('SIGTERM');
    expect(await exited(gateway)).toBe(0);
  });
});
