import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { startOpenAIFake } from '../fakes/openai-server.js';
import { exited, runCli, spawnCli } from '../helpers/cli.js';
import { freePort } from '../helpers/ports.js';
import { startRedis } from '../helpers/redis-server.js';
import { tempDir } from '../helpers/tmp.js';

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? filesUnder(p) : statSync(p).isFile() ? [p] : [];
  });
}

const cleanup: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const f of cleanup.reverse()) await f();
});

describe('no credential in plaintext', () => {
  it('after a full run that used a backend key, a secret queue URL, the dashboard password and an API key, none is on disk or in any log', async () => {
    const tmp = tempDir('mc-plain-');
    cleanup.push(() => tmp.remove());
    const openai = await startOpenAIFake();
    cleanup.push(() => openai.close());
    const redis = await startRedis();
    cleanup.push(() => redis.stop());
    const port = await freePort();
    const logs: string[] = [];
    const cli = async (args: string[], input?: string) => {
      const r = await runCli(args, { cwd: tmp.dir, ...(input !== undefined ? { input } : {}) });
      logs.push(r.stdout, r.stderr);
      return r;
    };
    const secrets = {
      // No credential shape: only the vault value itself can mask it.
      OPENAI_KEY: 'plain-words-vault-value-4711',
      REDIS_URL: redis.url,
    };
    const password = 'dashboard password 4711';
    writeFileSync(
      join(tmp.dir, 'monkeyclaw.config.yaml'),
      `server: { port: ${port} }
queue: { driver: bullmq, redisUrl: secret:REDIS_URL }
backends:
  gpt: { type: openai, baseUrl: ${openai.url}, model: fake-gpt, apiKey: secret:OPENAI_KEY }
assistants:
  default: { backend: gpt }
`,
    );
    for (const [name, value] of Object.entries(secrets)) expect((await cli(['secrets', 'set', name], value)).code).toBe(0);
    await cli(['admin', 'set-password'], password);
    // `apikey create` shows the key once by design: that output is the one place it may appear.
    const apiKey = (await runCli(['apikey', 'create', 'scan'], { cwd: tmp.dir })).stdout.trim().split('\n').at(-1)!;

    const gateway = spawnCli(['start'], { cwd: tmp.dir });
    // Stopped below; this is for a failed assertion on the way there.
    cleanup.push(async () => {
      if (gateway.exitCode === null && gateway.signalCode === null) {
        gateway.kill('SIGKILL');
        await exited(gateway);
      }
    });
    for (let i = 0; i < 150; i++) {
      try {
        if ((await fetch(`http://127.0.0.1:${port}/health`)).ok) break;
      } catch {
        await sleep(100);
      }
    }
    const reply = await cli(['chat', '--once'], 'hello model');
    expect(reply.stdout).toBe('Hello there\n');
    // A model that prints the key it was called with (an agent reading its environment): it is masked before it is
    // stored or shown, so the scan below finds it nowhere, history included.
    openai.script({ kind: 'stream', deltas: ['my key is ', secrets.OPENAI_KEY.slice(0, 10), secrets.OPENAI_KEY.slice(10)] });
    const api = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'default', messages: [{ role: 'user', content: 'via api' }] }),
    });
    expect(api.status).toBe(200);
    expect(((await api.json()) as { choices: Array<{ message: { content: string } }> }).choices[0]!.message.content).toBe('my key is [secret]');
    // The key was used, from the vault, by the worker process.
    expect(openai.chatRequests().every((r) => r.headers.authorization === `Bearer ${secrets.OPENAI_KEY}`)).toBe(true);
    expect(openai.chatRequests().length).toBeGreaterThanOrEqual(2);
    gateway.kill('SIGTERM');
    await exited(gateway);
    logs.push(gateway.output(), (await cli(['audit', 'tail', '-n', '1000'])).stdout);
    // This throwaway Redis keeps nothing on disk, and the gateway said so when it started.
    expect(gateway.output()).toContain('Redis keeps nothing a restart would not lose: run it with appendonly yes');

    const needles = [...Object.values(secrets), password, apiKey];
    const haystacks = [
      ...filesUnder(join(tmp.dir, 'data'))
        .filter((f) => !f.endsWith('master.key'))
        .map((f) => ({ where: f, text: readFileSync(f).toString('latin1') })),
      { where: 'config', text: readFileSync(join(tmp.dir, 'monkeyclaw.config.yaml'), 'utf8') },
      { where: 'logs and CLI output', text: logs.join('\n') },
    ];
    for (const { where, text } of haystacks) {
      for (const needle of needles) expect(text.includes(needle), `${needle.slice(0, 12)}… in ${where}`).toBe(false);
    }
  }, 120_000);
});
