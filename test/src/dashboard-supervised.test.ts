import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { startFakeTelegram } from '../fakes/telegram/server.js';
import { exited, hasExited, runCli, spawnCli } from '../helpers/cli.js';
import { freePort } from '../helpers/ports.js';
import { tempDir } from '../helpers/tmp.js';
import { cleanups, until } from '../helpers/wait.js';

const cleanup = cleanups();
const PASSWORD = 'a supervised-dashboard password';
/** Not shaped like any known credential: only the redactors that were given the value can hide it. */
const TOKEN = 'plain-secret-4242-of-no-known-shape';

describe('dashboard under `monkeyclaw start` (built CLI)', () => {
  it("shows a crashing connector's last words, redacted, and runs its doctor in a child holding only its credentials", async () => {
    const telegram = await startFakeTelegram(TOKEN);
    cleanup.push(() => telegram.close());
    // Every getMe is refused, quoting the token back as a careless platform might. The fake checks the token
    // first: this answer (rather than a bare 401) proves the caller held the right one.
    telegram.failNext('getMe', 10_000, { error_code: 401, description: `Unauthorized: token ${TOKEN} was revoked` });
    const tmp = tempDir('mc-dash-sup-');
    cleanup.push(() => tmp.remove());
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    writeFileSync(
      join(tmp.dir, 'monkeyclaw.config.yaml'),
      `server: { port: ${port} }\nconnectors:\n  telegram: { enabled: true, token: secret:TELEGRAM_TOKEN, apiRoot: "${telegram.url}" }\n`,
    );
    const cli = (args: string[], input: string) => runCli(args, { cwd: tmp.dir, input });
    expect((await cli(['secrets', 'set', 'TELEGRAM_TOKEN'], TOKEN)).code).toBe(0);
    expect((await cli(['admin', 'set-password'], `${PASSWORD}\n`)).code).toBe(0);
    const gateway = spawnCli(['start'], { cwd: tmp.dir });
    cleanup.push(async () => {
      if (!hasExited(gateway)) {
        gateway.kill('SIGKILL');
        await exited(gateway);
      }
    });
    await until(() => fetch(`${base}/health`).then((r) => r.ok, () => false)).catch((e: Error) => {
      throw new Error(`${e.message}\n${gateway.output()}`);
    });

    // The supervisor audits the crash with the child's own words, the token masked by the value it handed out.
    const db = new Database(join(tmp.dir, 'data', 'monkeyclaw.db'), { readonly: true });
    cleanup.push(() => void db.close());
    const crash = await until(
      () => db.prepare(`SELECT data FROM audit_log WHERE kind = 'process.crashed' AND subject = 'connector:telegram' ORDER BY seq LIMIT 1`).pluck().get() as string | undefined,
    );
    expect(JSON.parse(crash)).toEqual({
      code: 1,
      signal: null,
      error: 'Telegram refused the bot token (getMe: 401 Unauthorized: token [secret] was revoked): check connectors.telegram.token',
    });

    const login = await fetch(`${base}/login`, {
      method: 'POST',
      body: new URLSearchParams({ password: PASSWORD }),
      headers: { origin: base },
      redirect: 'manual',
    });
    expect(login.status).toBe(303);
    const cookie = login.headers.getSetCookie()[0]!.split(';')[0]!;
    const page = (path: string) => fetch(`${base}${path}`, { headers: { cookie, accept: 'text/html' } }).then((r) => r.text());
    const overview = await page('/');
    expect(overview).toMatch(/<tr data-process="connector:telegram">.*?<td data-col="error" class="error-text">Telegram refused the bot token \(getMe: 401 Unauthorized: token \[secret\] was revoked\)/);
    expect(overview).not.toContain(TOKEN);
    // A doctor run is a one-off child, not a supervised process.
    expect(overview).not.toContain('doctor:telegram');
    const csrf = /<meta name="csrf-token" content="([^"]+)"/.exec(overview)![1]!;

    const before = telegram.callsOf('getMe').length;
    const doctor = await fetch(`${base}/connectors/telegram/doctor`, {
      method: 'POST',
      body: new URLSearchParams({ _csrf: csrf }),
      headers: { cookie, origin: base },
      redirect: 'manual',
    });
    expect(doctor.status).toBe(303);
    expect(telegram.callsOf('getMe').length).toBeGreaterThan(before);
    const verdict = await page('/connectors/telegram');
    expect(verdict).not.toContain(TOKEN);
    expect(verdict).toContain('Doctor for telegram: 1 of 2 checks failed.');
    const lines = [...verdict.matchAll(/<li class="(?:ok|bad)"><strong>(ok|FAIL)<\/strong> ([^<]*)<\/li>/g)].map((m) => `${m[1]} ${m[2]}`);
    expect(lines).toEqual([
      expect.stringMatching(/^ok config: valid \(.*monkeyclaw\.config\.yaml\)$/),
      'FAIL connector telegram token: Telegram refused the token (getMe: 401 Unauthorized: token [secret] was revoked): ask @BotFather for the current one',
    ]);

    // The terminal too: `doctor` and the crashing connector's own last line, whatever shape the token has.
    const cliDoctor = await cli(['doctor'], '');
    expect(cliDoctor.code).toBe(1);
    expect(cliDoctor.stdout).toContain('token [secret] was revoked');
    expect(cliDoctor.stdout + cliDoctor.stderr).not.toContain(TOKEN);

    gateway.kill('SIGTERM');
    expect(await exited(gateway)).toBe(0);
    expect(gateway.output()).toContain('token [secret] was revoked');
    expect(gateway.output()).not.toContain(TOKEN);
  }, 90_000);
});
