import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startOpenAIFake } from '../fakes/openai-server.js';
import { CLI, exited, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';

let gpt: Awaited<ReturnType<typeof startOpenAIFake>> | undefined;
let tmp: ReturnType<typeof tempDir>;
beforeEach(() => {
  tmp = tempDir('mc-chat-interrupt-');
});
afterEach(async () => {
  await gpt?.close();
  tmp.remove();
});

describe('chat --once ended by a signal', () => {
  it('gives its message up, so no worker runs it later for nobody', async () => {
    gpt = await startOpenAIFake();
    writeFileSync(
      join(tmp.dir, 'monkeyclaw.config.yaml'),
      `backends:\n  gpt: { type: openai, baseUrl: ${gpt.url}, model: fake-gpt, idleTimeoutMs: 60000 }\nassistants:\n  default: { backend: gpt }\n`,
    );
    // The backend writes a first word, then nothing more.
    gpt.script({ kind: 'stall', deltas: ['Thinking'] });
    const chat = spawn(process.execPath, [CLI, 'chat', '--once'], { cwd: tmp.dir, stdio: ['pipe', 'ignore', 'ignore'] });
    chat.stdin.end('think hard');
    await until(() => gpt!.requests.length === 1, 20_000);
    chat.kill('SIGINT');
    expect(await exited(chat)).toBe(130);
    expect((await runCli(['audit', 'tail', '-n', '50'], { cwd: tmp.dir })).stdout).toMatch(/turn\.abandoned.*connector:loopback.*interrupted/);

    // The next chat's worker finds the message given up: only the new one reaches the backend.
    gpt.script({ kind: 'stream', deltas: ['fine'] });
    const next = await runCli(['chat', '--once'], { cwd: tmp.dir, input: 'and now?' });
    expect(next).toMatchObject({ code: 0, stdout: 'fine\n' });
    expect(gpt.requests).toHaveLength(2);
  }, 60_000);

  it('gives its message up when no reply came within --timeout too, and the next chat is answered in order', async () => {
    gpt = await startOpenAIFake();
    writeFileSync(
      join(tmp.dir, 'monkeyclaw.config.yaml'),
      `backends:\n  gpt: { type: openai, baseUrl: ${gpt.url}, model: fake-gpt, idleTimeoutMs: 60000 }\nassistants:\n  default: { backend: gpt }\n`,
    );
    gpt.script({ kind: 'stall', deltas: ['Thinking'] });
    const slow = await runCli(['chat', '--once', '--timeout', '3'], { cwd: tmp.dir, input: 'think hard' });
    expect(slow.code).toBe(1);
    expect(slow.stderr).toContain('no reply within 3 s, and the message was given up');
    expect((await runCli(['audit', 'tail', '-n', '50'], { cwd: tmp.dir })).stdout).toMatch(/turn\.abandoned.*connector:loopback.*timeout/);
    gpt.script({ kind: 'stream', deltas: ['fine'] });
    expect(await runCli(['chat', '--once'], { cwd: tmp.dir, input: 'and now?' })).toMatchObject({ code: 0, stdout: 'fine\n' });
    // The given-up message never reached the backend again: only the new one did.
    expect(gpt.requests).toHaveLength(2);
    expect(await runCli(['chat', '--once', '--timeout', '0'], { cwd: tmp.dir, input: 'x' })).toMatchObject({ code: 2, stderr: expect.stringContaining('--timeout must be a whole number') });
  }, 60_000);
});
