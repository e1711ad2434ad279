import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { SqliteStore } from '../../core/sqlite/store.js';
import { CLI, cliInFreshDir } from '../helpers/cli.js';
import { freePort } from '../helpers/ports.js';

const tmp = cliInFreshDir('mc-cli-out-');
const { cli } = tmp;

/** What the CLI prints, and where it still runs: notices, slow pipes, damaged rows, a low file limit. */
describe('monkeyclaw CLI output', () => {
  it('runs under a low open-file limit with provider backends configured: their SDKs load when first called', async () => {
    const config = join(tmp.dir, 'providers.json');
    const backends = {
      echo: { type: 'echo' },
      local: { type: 'openai', baseUrl: 'http://127.0.0.1:9/v1', model: 'm' },
      claude: { type: 'anthropic', baseUrl: 'http://127.0.0.1:9', model: 'm', apiKey: 'env:MC_TEST_ANTHROPIC_KEY' },
    };
    writeFileSync(config, JSON.stringify({ backends, assistants: { default: { backend: 'echo' }, other: { backend: ['local', 'claude'] } } }));
    const limited = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn('sh', ['-c', 'ulimit -n 128 && exec "$0" "$@"', process.execPath, CLI, 'chat', '--once', '--config', config], {
        cwd: tmp.dir,
        env: { ...process.env, MC_TEST_ANTHROPIC_KEY: 'sk-ant-test' },
      });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      child.on('exit', (code) => resolve({ code, out }));
      child.stdin.end('low limit\n');
    });
    expect(limited).toEqual({ code: 0, out: 'low limit\n' });
  });

  it('chat --once prints what the gateway answered, a notice in place of an answer included; a command answers too', async () => {
    const config = join(tmp.dir, 'down.json');
    const backends = { down: { type: 'openai', baseUrl: `http://127.0.0.1:${await freePort()}/v1`, model: 'm' } };
    const pipelines = { inbound: ['rate-limit', 'access', 'commands', 'group-gate', 'redact', 'guard'] };
    writeFileSync(config, JSON.stringify({ backends, assistants: { default: { backend: 'down', pipelines } } }));
    const down = await cli(['chat', '--once', '--config', config], 'anyone there?');
    expect(down.code).toBe(0);
    expect(down.stdout).toMatch(/unavailable/i);
    const help = await cli(['chat', '--once', '--config', config], '/help');
    expect(help).toMatchObject({ code: 0, stdout: expect.stringContaining('/help') });
  });

  it('prints all its output into a pipe that is read slowly before it exits', async () => {
    const store = new SqliteStore(join(tmp.dir, 'data', 'monkeyclaw.db'));
    await store.migrate();
    const entry = { kind: 'test.filler', actor: 'test', data: { pad: 'x'.repeat(200) } };
    await store.appendAudit(Array.from({ length: 3_000 }, () => entry));
    await store.close();
    const child = spawn(process.execPath, [CLI, 'audit', 'tail', '-n', '3000'], { cwd: tmp.dir, stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    const closed = new Promise((resolve) => child.stdout.once('close', resolve));
    child.stdout.pause(); // the reader is busy: the pipe fills up, and the command waits for it
    await sleep(700);
    let text = '';
    child.stdout.on('data', (d) => (text += d));
    child.stdout.resume();
    await Promise.all([exited, closed]);
    expect(await exited).toBe(0);
    expect(text.trimEnd().split('\n')).toHaveLength(3_000);
  });

  it('audit tail keeps six fields a line for rows a damaged database holds: empty, NULL or control characters', async () => {
    await cli(['chat', '--once'], 'one');
    const db = new Database(join(tmp.dir, 'data', 'monkeyclaw.db'));
    db.exec('DROP TRIGGER audit_log_no_update');
    db.prepare(`UPDATE audit_log SET kind = '', actor = 'a\tb\nc\u001b[2J', data = '' WHERE seq = 1`).run();
    db.close();
    const lines = (await cli(['audit', 'tail', '-n', '1000'])).stdout.trimEnd().split('\n');
    for (const line of lines) expect(line.split('\t')).toHaveLength(6);
    expect(lines[0]!.split('\t').slice(2)).toEqual(['-', 'a\u2409b\u240ac\u241b[2J', expect.any(String), '-']);
  });

  it('doctor --connector tells a name no connector has from a connector not enabled', async () => {
    expect(await cli(['doctor', '--connector', 'nope'])).toMatchObject({ code: 2, stderr: expect.stringContaining('no connector is called "nope" (one of ') });
    expect(await cli(['doctor', '--connector', 'slack'])).toMatchObject({ code: 2, stderr: expect.stringContaining('connector "slack" is not enabled in the config') });
  });
});
