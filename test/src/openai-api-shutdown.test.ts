import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import OpenAI from 'openai';
import { afterAll, describe, expect, it } from 'vitest';
import { startOpenAIFake } from '../fakes/openai-server.js';
import { exited, hasExited, runCli, spawnCli } from '../helpers/cli.js';
import { freePort } from '../helpers/ports.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';

const tmp = tempDir('mc-api-stop-');
let gateway: ReturnType<typeof spawnCli> | undefined;
let gpt: Awaited<ReturnType<typeof startOpenAIFake>> | undefined;
afterAll(async () => {
  if (gateway && !hasExited(gateway)) {
    gateway.kill('SIGKILL');
    await exited(gateway);
  }
  await gpt?.close();
  tmp.remove();
});

describe('OpenAI-compatible API at shutdown', () => {
  it('ends a stream still waiting on its backend with OpenAI\'s error object, and exits 0 within 10 s', async () => {
    gpt = await startOpenAIFake();
    const port = await freePort();
    writeFileSync(
      join(tmp.dir, 'monkeyclaw.config.yaml'),
      `server: { port: ${port} }\nbackends:\n  gpt: { type: openai, baseUrl: ${gpt.url}, model: fake-gpt, idleTimeoutMs: 60000 }\nassistants:\n  default: { backend: gpt }\n`,
    );
    await runCli(['migrate'], { cwd: tmp.dir });
    const key = (await runCli(['apikey', 'create', 'stop'], { cwd: tmp.dir })).stdout.trim().split('\n').at(-1)!;
    gateway = spawnCli(['start'], { cwd: tmp.dir });
    await until(() => fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false), 30_000);
    // The backend writes a first word, then nothing more for a minute (a draft shows whole words only).
    gpt.script({ kind: 'stall', deltas: ['Thinking '] });
    const ai = new OpenAI({ apiKey: key, baseURL: `http://127.0.0.1:${port}/v1`, maxRetries: 0, timeout: 30_000 });
    const stream = await ai.chat.completions.create({ model: 'default', stream: true, messages: [{ role: 'user', content: 'think hard' }] });
    const pieces: string[] = [];
    const read = (async () => {
      for await (const chunk of stream) pieces.push(chunk.choices[0]?.delta.content ?? '');
    })();
    await until(() => pieces.join('').includes('Thinking'), 20_000);
    const stopAt = Date.now();
    gateway.kill('SIGTERM');
    // The client reads the error object as an error: the caller learns why, instead of a cut connection.
    await expect(read).rejects.toThrow(/shutting down/);
    expect(await exited(gateway)).toBe(0);
    expect(Date.now() - stopAt).toBeLessThan(10_000);

    // The caller was told to try again: after a restart, the turn it gave up is not run for nobody.
    expect((await runCli(['audit', 'tail', '-n', '50'], { cwd: tmp.dir })).stdout).toMatch(/turn\.abandoned.*surface:api/);
    gateway = spawnCli(['start'], { cwd: tmp.dir });
    await until(() => fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false), 30_000);
    const db = new Database(join(tmp.dir, 'data', 'monkeyclaw.db'), { readonly: true });
    const inbound = db.prepare("SELECT count(*) FROM queue_jobs WHERE queue = 'inbound'").pluck();
    try {
      // The unfinished job was handed back at shutdown; the worker takes it up again and finds it given up.
      await until(() => inbound.get() === 0, 20_000);
    } finally {
      db.close();
    }
    const answer = await ai.chat.completions.create({ model: 'default', messages: [{ role: 'user', content: 'again' }] });
    expect(answer.choices[0]?.message.content).toBe('Hello there');
    expect(gpt.chatRequests()).toHaveLength(2);
    gateway.kill('SIGTERM');
    expect(await exited(gateway)).toBe(0);
  }, 90_000);
});
