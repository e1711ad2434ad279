import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { exited, hasExited, runCli, spawnCli } from '../helpers/cli.js';
import { freePort } from '../helpers/ports.js';
import { tempDir } from '../helpers/tmp.js';
import { cleanups, until } from '../helpers/wait.js';

const cleanup = cleanups();
const PASSWORD = 'a password for the live test';
const ADDRESS = 'write to ada@example.org';

/** The default assistant's form as the dashboard shows it, with `inbound` as given. */
const assistantForm = (inbound: string) => ({
  systemPrompt: 'You are a helpful assistant.',
  backend: 'echo',
  fallback: 'auto',
  model: '',
  inbound,
  request: '',
  response: '',
  outbound: '',
});

describe('a dashboard edit on a running gateway', () => {
  it('reaches the running worker from the next message, survives a restart, and a reset brings the config file back', async () => {
    const tmp = tempDir('mc-live-');
    cleanup.push(() => tmp.remove());
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    writeFileSync(join(tmp.dir, 'monkeyclaw.config.yaml'), `server: { host: 127.0.0.1, port: ${port} }\n`);
    const cli = (args: string[], input?: string) => runCli(args, { cwd: tmp.dir, ...(input !== undefined ? { input } : {}) });
    expect((await cli(['admin', 'set-password'], `${PASSWORD}\n`)).code).toBe(0);
    const apiKey = (await cli(['apikey', 'create', 'live'])).stdout.trim().split('\n').at(-1)!;

    const db = new Database(join(tmp.dir, 'data', 'monkeyclaw.db'), { readonly: true });
    cleanup.push(() => void db.close());
    let gateway: ReturnType<typeof spawnCli> | undefined;
    const startGateway = async () => {
      const g = spawnCli(['start'], { cwd: tmp.dir });
      gateway = g;
      cleanup.push(async () => {
        if (!hasExited(g)) {
          g.kill('SIGKILL');
          await exited(g);
        }
      });
      await until(() => fetch(`${base}/health`).then((r) => r.ok, () => false));
      // `chat` goes through the gateway's own worker once that worker beats.
      await until(() => (db.prepare(`SELECT COUNT(*) FROM heartbeats WHERE role = 'worker' AND beat_at >= ?`).pluck().get(Date.now() - 2_000) as number) > 0);
    };
    const chat = async (text: string, ...args: string[]) => {
      const r = await cli(['chat', '--once', ...args], text);
      expect(r.code, r.stderr).toBe(0);
      return r.stdout;
    };

    await startGateway();
    expect(await chat(ADDRESS)).toBe('write to [redacted:email]\n');

    // The owner logs in and edits the default assistant: the redact plug leaves its inbound pipeline.
    const login = await fetch(`${base}/login`, {
      method: 'POST',
      redirect: 'manual',
      body: new URLSearchParams({ password: PASSWORD }),
      headers: { origin: base },
    });
    expect(login.status).toBe(303);
    const cookie = login.headers.getSetCookie()[0]!.split(';')[0]!;
    const edit = await (await fetch(`${base}/assistants/default/edit`, { headers: { cookie, accept: 'text/html' } })).text();
    const csrf = /<meta name="csrf-token" content="([^"]+)"/.exec(edit)![1]!;
    const post = (path: string, fields: Record<string, string>) =>
      fetch(`${base}${path}`, { method: 'POST', redirect: 'manual', body: new URLSearchParams({ _csrf: csrf, ...fields }), headers: { cookie, origin: base } });
    expect((await post('/assistants/default', assistantForm('rate-limit, access, group-gate, guard'))).status).toBe(303);

    // No restart: the same worker process answers the next message with the new pipeline.
    expect(await chat(ADDRESS)).toBe(`${ADDRESS}\n`);
    expect(gateway!.output()).toContain('assistant rebuilt from dashboard settings');

    // An assistant made in the dashboard answers at once, and the API lists it.
    expect((await post('/assistants', { name: 'helper', ...assistantForm('access') })).status).toBe(303);
    expect(await chat('hello helper', '--assistant', 'helper')).toBe('hello helper\n');
    const models = (await (await fetch(`${base}/v1/models`, { headers: { authorization: `Bearer ${apiKey}` } })).json()) as { data: Array<{ id: string }> };
    expect(models.data.map((m) => m.id)).toEqual(['default', 'helper']);

    // A restart keeps the edit: the worker's start-up copy of the config file does not overwrite it.
    gateway!.kill('SIGTERM');
    expect(await exited(gateway!)).toBe(0);
    await startGateway();
    expect(await chat(ADDRESS)).toBe(`${ADDRESS}\n`);

    // Reset to the config file: redaction is back from the next message.
    expect((await post('/assistants/default/reset', {})).status).toBe(303);
    expect(await chat(ADDRESS)).toBe('write to [redacted:email]\n');
    const kinds = db.prepare(`SELECT kind FROM audit_log WHERE actor = 'web:admin' AND kind LIKE 'assistant.%' ORDER BY seq`).pluck().all();
    expect(kinds).toEqual(['assistant.updated', 'assistant.created', 'assistant.reset']);
    expect((await cli(['audit', 'verify'])).code).toBe(0);
  }, 90_000);
});
