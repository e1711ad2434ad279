import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startOpenAIFake } from '../fakes/openai-server.js';
import { CLI, exited, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';

let gpt: Awaited<ReturnType<typeof startOpenAIFake>> | undefined;
const tmp = tempDir('mc-chat-interrupt-');
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
});
