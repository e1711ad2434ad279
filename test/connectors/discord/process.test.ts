import { describe, expect, it } from 'vitest';
import { startFakeDiscord, USERS } from '../../fakes/discord/index.js';
import { exited, gatewayDir, hasExited, runCli, spawnCli } from '../../helpers/cli.js';
import { cleanups, until } from '../../helpers/wait.js';

const cleanup = cleanups();


describe('monkeyclaw start with the Discord connector (needs a build: npx tsc -p tsconfig.json)', () => {
  it('runs the connector as a supervised process from config, with the token from env:, answers a DM, and stops within 10 s with a send stalled on a 429', async () => {
    const fake = await startFakeDiscord();
    cleanup.push(() => fake.close());
    const dm = '319674150115610528';
    fake.addDm(dm, USERS.alice);
    const tmp = await gatewayDir('mc-discord-', [
      'access: { dm: open }',
      'connectors:',
      `  discord: { enabled: true, token: env:DISCORD_TOKEN, apiRoot: "${fake.apiRoot}" }`,
    ]);
    cleanup.push(() => tmp.remove());
    const gateway = spawnCli(['start'], { cwd: tmp.dir, env: { DISCORD_TOKEN: fake.token } });
    cleanup.push(async () => {
      if (!hasExited(gateway)) {
        gateway.kill('SIGKILL');
        await exited(gateway);
      }
    });

    await until(() => fake.gateway.identifies.length === 1, 60_000).catch((e: Error) => {
      throw new Error(`${e.message}\n${gateway.output()}`);
    });
    expect(fake.gateway.identifies[0]!.token).toBe(fake.token);
    fake.say({ channelId: dm, author: USERS.alice, content: 'hello from discord' });
    const [post] = await until(() => (fake.sent(dm).length ? fake.sent(dm) : undefined));
    expect(post!.body).toMatchObject({ content: 'hello from discord', allowed_mentions: { parse: [] }, enforce_nonce: true });

    // A send stalled on a 429 (retry after a minute) is handed back, within the 10 s SIGTERM allows.
    fake.rateLimitNext('POST', /\/messages$/, 60);
    fake.say({ channelId: dm, author: USERS.alice, content: 'stalled' });
    await until(() => fake.requests.some((q) => q.status === 429), 30_000);
    const stopAt = Date.now();
    gateway.kill('SIGTERM');
    expect(await exited(gateway)).toBe(0);
    expect(Date.now() - stopAt).toBeLessThan(10_000);
    expect(fake.sent(dm).map((p) => p.body.content)).toEqual(['hello from discord']);
    // The connector closed its gateway session on the way out (a normal close, so Discord ends the session).
    await until(() => !fake.gateway.connected, 5_000);
    expect((await runCli(['audit', 'verify'], { cwd: tmp.dir })).code).toBe(0);
  }, 120_000);
});
